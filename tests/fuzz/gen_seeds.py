#!/usr/bin/env python3
"""Write a seed corpus and a dictionary for fuzz_dispatch.

Seeds give the fuzzer the shape of real traffic (the ids the first HELLO
and primary context use, bulk references inside the area, names) so it
mutates from there instead of rediscovering the framing.  The session seeds
(session_seeds()) use the harness's structure (tests/fuzz/fuzz_dispatch.c):
bulk writes and placeholders for seals, device pointers and image hashes,
so that modules really load and functions really launch.

Every opcode of include/vgpu/calls.h must occur in some seed: the opcodes
are read from the enum and the seeds' records are parsed, so a seed added
anywhere below counts, and a new opcode without one fails this script.

Usage: gen_seeds.py CORPUS_DIR [DICT_FILE]
"""
import hashlib
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CALLS_H = os.path.join(HERE, "..", "..", "include", "vgpu", "calls.h")

CTX = 16  # the harness retains the primary context under this id
REPLY = 1


def rec(op, payload, flags=REPLY, ctx=CTX):
    return struct.pack("<HHIH", op, flags, ctx, len(payload)) + payload


def bulk(off, length):
    return struct.pack("<QQ", off, length)


# The harness's structure (fuzz_dispatch.c).
BULK_WRITE = 0xFFFF
SEAL = b"VGU_SEAL"
DPTR = b"VGU_DPTR"
HASH = b"VGU_HASH" * 4
T1 = 1 << 8  # guest thread 1, in a frame's flags


def opcodes():
    """name -> number of every call in calls.h's enum (PAD and COUNT are none)."""
    text = open(CALLS_H).read()
    body = re.search(r"enum vgpu_opcode\s*{(.*?)};", text, re.S).group(1)
    ops = {}
    for name, num in re.findall(r"VGPU_OP_(\w+)\s*=\s*(\d+)", body):
        if name not in ("PAD", "COUNT"):
            ops[name] = int(num)
    return ops


OP = opcodes()


def call(name, payload=b"", flags=REPLY | T1, ctx=CTX):
    return rec(OP[name], payload, flags, ctx)


def bulk_write(off, data):
    return rec(BULK_WRITE, struct.pack("<I", off) + data, 0, 0)


def name_args(module, new_id, kind, name):
    return struct.pack("<QQII", module, new_id, kind, len(name)) + name


# A PTX image the driver double loads: it names two of its registered kernels and its global.
PTX = (b".version 8.0\n.target sm_90\n.address_size 64\n"
       b".visible .global .align 8 .b8 vgpu_test_global[32];\n"
       b".visible .entry _Z14vgpu_test_fillPjjy(.param .u64 p0, .param .u32 p1, .param .u64 p2)\n"
       b"{\nret;\n}\n"
       b".visible .entry _Z20vgpu_test_global_addy(.param .u64 p0)\n{\nret;\n}\n\x00")
FILL = b"_Z14vgpu_test_fillPjjy"


def upload(image, off=0):
    """Stage @image in bulk at @off and upload it in one chunk (hash and seal by the harness)."""
    return (bulk_write(off, image)
            + call("IMAGE_UPLOAD", HASH + struct.pack("<QQ", len(image), 0) + bulk(off, len(image))
                   + SEAL, flags=T1))


def launch(func, stream, params, grid=1, block=32):
    return call("LAUNCH_KERNEL", struct.pack("<QQIIIIIIII", func, stream, grid, 1, 1, block, 1, 1,
                                             0, len(params)) + params, flags=T1)


def session_seeds():
    """Whole sessions that get past the first checks, one area each."""
    fill_params = DPTR + struct.pack("<IIQ", 7, 0, 64)
    return {
        "s_module": upload(PTX)
        + call("MODULE_LOAD", struct.pack("<Q", 300) + HASH + struct.pack("<QII", len(PTX), 0, 0))
        + call("MODULE_GET_FUNCTION", name_args(300, 301, 0, FILL))
        + call("MODULE_GET_GLOBAL", name_args(300, 0, 0, b"vgpu_test_global"))
        + call("FUNC_GET_PARAM_INFO", struct.pack("<Q", 301) + bulk(8192, 256))
        + call("FUNC_GET_ATTRIBUTE", struct.pack("<QiiiI", 301, 0, 0, 0, 0))
        + call("FUNC_SET_ATTRIBUTE", struct.pack("<QiiiI", 301, 8, 1024, 0, 0))
        + call("MEM_ALLOC", struct.pack("<Q", 4096))
        + launch(301, 0, fill_params)
        + call("CTX_SYNCHRONIZE", flags=REPLY | 2 | T1)
        + call("MEMCPY_DTOH", DPTR + struct.pack("<Q", 0) + bulk(4096, 256))
        + call("MODULE_UNLOAD", struct.pack("<QII", 300, 0, 0)),
        "s_library": upload(PTX)
        + call("MODULE_LOAD", struct.pack("<Q", 400) + HASH + struct.pack("<QII", len(PTX), 1, 0))
        + call("LIBRARY_GET_KERNEL", name_args(400, 401, 1, FILL))
        + call("KERNEL_GET_FUNCTION", struct.pack("<QQ", 401, 402))
        + call("FUNC_GET_ATTRIBUTE", struct.pack("<QiiiI", 401, 0, 0, 0, 0))
        + call("MODULE_GET_GLOBAL", name_args(400, 0, 1, b"vgpu_test_global"))
        + call("MEM_ALLOC", struct.pack("<Q", 4096))
        + launch(401, 2, fill_params)
        + launch(402, 0, fill_params)
        + call("STREAM_SYNCHRONIZE", struct.pack("<Q", 0), flags=REPLY | 2 | T1)
        + call("MODULE_UNLOAD", struct.pack("<QII", 400, 1, 0)),
        "s_memory": call("MEM_ALLOC", struct.pack("<Q", 65536))
        + call("MEMCPY_HTOD_INLINE", DPTR + struct.pack("<QQ", 0, 16) + b"0123456789abcdef",
               flags=T1)
        + bulk_write(0, bytes(range(256)))
        + call("MEMCPY_HTOD", DPTR + struct.pack("<Q", 0) + bulk(0, 256) + SEAL, flags=T1)
        + call("MEMCPY_DTOD", DPTR + DPTR + struct.pack("<QQ", 256, 2), flags=T1)
        + call("MEMSET", DPTR + struct.pack("<QQQQII", 0, 64, 4, 256, 0x41, 1), flags=T1)
        + call("MEMSET", DPTR + struct.pack("<QQQQII", 0, 128, 0, 0, 0x42424242, 4), flags=T1)
        + call("MEMCPY_DTOH", DPTR + struct.pack("<Q", 0) + bulk(65536, 1024))
        + call("MEM_GET_INFO")
        + call("MEM_FREE", DPTR),
        "s_streams": call("MEM_ALLOC", struct.pack("<Q", 4096))
        + call("STREAM_CREATE", struct.pack("<QIi", 100, 1, 0), flags=T1)
        + call("EVENT_CREATE", struct.pack("<QII", 200, 0, 0), flags=T1)
        + call("EVENT_CREATE", struct.pack("<QII", 201, 0, 0), flags=T1)
        + call("EVENT_RECORD", struct.pack("<QQ", 200, 100), flags=T1)
        + call("STREAM_WRITE_VALUE", struct.pack("<Q", 100) + DPTR + struct.pack("<QII", 5, 0, 4),
               flags=T1)
        + call("STREAM_WAIT_VALUE", struct.pack("<Q", 100) + DPTR + struct.pack("<QII", 5, 0, 4),
               flags=T1)
        + call("LAUNCH_HOST_FUNC", struct.pack("<QQQII", 100, 77, 1, 0, 0), flags=T1)
        + call("EVENT_RECORD", struct.pack("<QQ", 201, 100), flags=T1)
        + call("STREAM_WAIT_EVENT", struct.pack("<QQII", 2, 201, 0, 0), flags=T1)
        + call("STREAM_QUERY", struct.pack("<Q", 100))
        + call("EVENT_QUERY", struct.pack("<QQ", 201, 0))
        + call("EVENT_SYNCHRONIZE", struct.pack("<QQ", 200, 0))
        + call("EVENT_ELAPSED", struct.pack("<QQ", 200, 201))
        + call("STREAM_DESTROY", struct.pack("<Q", 100), flags=T1)
        + call("EVENT_DESTROY", struct.pack("<QQ", 200, 0), flags=T1),
        # The last bytes of the bulk area of the harness's 1 MiB BAR1 (970752
        # bytes), and one byte past them: the harness's bulk is an allocation
        # of its own, so ASan sees a reference the executor lets through.
        "s_bulk_end": call("MEM_ALLOC", struct.pack("<Q", 4096))
        + call("MEMCPY_DTOH", DPTR + struct.pack("<Q", 0) + bulk(970752 - 64, 64))
        + call("MEMCPY_DTOH", DPTR + struct.pack("<Q", 0) + bulk(970752 - 64, 65)),
        "s_contexts": call("DEVICE_GET_COUNT", ctx=0)
        + call("HELLO", struct.pack("<HHI", 1, 1, 1), ctx=0)
        + call("PRIMARY_CTX_GET_STATE", struct.pack("<iIQ", 0, 0, 0), ctx=0)
        + call("PRIMARY_CTX_SET_FLAGS", struct.pack("<iIQ", 0, 4, 0), ctx=0)
        + call("CTX_CREATE", struct.pack("<QIi", 21, 0, 0), ctx=0)
        + call("MEM_ALLOC", struct.pack("<Q", 4096), ctx=21)
        + call("CTX_SET_LIMIT", struct.pack("<IIQ", 0, 0, 2048), ctx=21)
        + call("CTX_GET_LIMIT", struct.pack("<IIQ", 0, 0, 0), ctx=CTX)
        + call("CTX_GET_STREAM_PRIORITY_RANGE", ctx=21)
        + call("MEM_FREE", DPTR, ctx=CTX)
        + call("CTX_DESTROY", struct.pack("<Q", 21), ctx=0)
        + call("THREAD_EXIT", flags=REPLY | (2 << 8), ctx=0)
        + call("PRIMARY_CTX_RESET", struct.pack("<iIQ", 0, 0, CTX), ctx=0)
        + call("PRIMARY_CTX_RETAIN", struct.pack("<iIQ", 0, 0, CTX), ctx=0)
        + call("PRIMARY_CTX_RELEASE", struct.pack("<iIQ", 0, 0, CTX), ctx=0)
        + call("GOODBYE", flags=T1, ctx=0),
    }


def seed_opcodes(body):
    """The opcodes of a framed seed's records (bulk writes are no calls)."""
    found, i = set(), 0
    while i + 10 <= len(body):
        op, _, _, n = struct.unpack_from("<HHIH", body, i)
        i += 10 + n
        if op != BULK_WRITE:
            found.add(op)
    return found


def dictionary():
    """Tokens the fuzzer splices in: placeholders, ids, names, image text."""
    tokens = [SEAL, DPTR, HASH, FILL, b"_Z20vgpu_test_global_addy", b"vgpu_test_global",
              b".version 8.0\n", b".target sm_90\n", b".entry ", b"\x00"]
    tokens += [struct.pack("<Q", v) for v in (CTX, 21, 100, 200, 201, 300, 301, 400, 401, 402)]
    tokens += [struct.pack("<H", BULK_WRITE)]
    tokens += [struct.pack("<HH", op, REPLY | T1) for op in sorted(OP.values())]
    return tokens


PROP = struct.pack("<IIIiBBHI", 1, 0, 1, 0, 0, 0, 0, 0)  # pinned, on device 0
MiB2 = 2 << 20


def vmm_seeds():
    """Virtual memory management and pools (ops 160-179): a ggml-style pool's life."""
    return {
        "vmm_granularity": rec(160, PROP + struct.pack("<II", 1, 0)),
        "vmm_pool_life": rec(161, struct.pack("<QQQQ", 1 << 35, 0, 0, 0))
        + rec(163, struct.pack("<QQQ", 500, MiB2, 0) + PROP)
        + rec(165, struct.pack("<QQQQQ", 0x7f0000000000, MiB2, 0, 500, 0))
        + rec(164, struct.pack("<Q", 500))
        + rec(167, struct.pack("<QQII", 0x7f0000000000, MiB2, 1, 0) + struct.pack("<IiII", 1, 0, 3, 0))
        + rec(168, struct.pack("<QIi", 0x7f0000000000, 1, 0))
        + rec(169, struct.pack("<Q", 0x7f0000000000))
        + rec(170, struct.pack("<Q", 500))
        + rec(166, struct.pack("<QQ", 0x7f0000000000, 2 * MiB2))
        + rec(162, struct.pack("<QQ", 0x7f0000000000, 1 << 35)),
        "vmm_release_twice": rec(163, struct.pack("<QQQ", 501, MiB2, 0) + PROP)
        + rec(164, struct.pack("<Q", 501)) + rec(164, struct.pack("<Q", 501)),
        "pool_life": rec(178, struct.pack("<QiI", 600, 0, 0))
        + rec(173, struct.pack("<QQIIIiHHI", 601, 0, 1, 0, 1, 0, 0, 0, 0))
        + rec(176, struct.pack("<QQII", 601, (1 << 64) - 1, 4, 0))
        + rec(171, struct.pack("<QQQ", 4096, 0, 601))
        + rec(172, struct.pack("<QQ", 0, 0), flags=0)
        + rec(177, struct.pack("<QQII", 601, 0, 5, 0))
        + rec(175, struct.pack("<QQ", 601, 0))
        + rec(179, struct.pack("<QiI", 601, 0, 0))
        + rec(171, struct.pack("<QQQ", 1 << 20, 0, 0))
        + rec(174, struct.pack("<QQ", 601, 0)),
    }


def launch_attr(attr_id, value):
    """struct vgpu_launch_attr: id, reserved, 64 value bytes."""
    return struct.pack("<II", attr_id, 0) + value.ljust(64, b"\x00")


def main(out, dict_path=None):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "alloc_free": rec(40, struct.pack("<Q", 4096)) + rec(41, struct.pack("<Q", 0)),
        "meminfo": rec(42, b""),
        "htod_inline": rec(44, struct.pack("<QQQ", 0, 0, 8) + b"abcdefgh"),
        "htod_bulk": rec(43, struct.pack("<QQ", 0, 0) + bulk(0, 64) + struct.pack("<Q", 1)),
        "dtoh": rec(45, struct.pack("<QQ", 0, 0) + bulk(128, 64)),
        "memset": rec(47, struct.pack("<QQQQQII", 0, 0, 16, 0, 0, 7, 4)),
        "stream": rec(90, struct.pack("<QIi", 100, 1, 0)) + rec(92, struct.pack("<Q", 100))
        + rec(91, struct.pack("<Q", 100)),
        "event": rec(100, struct.pack("<QII", 200, 0, 0)) + rec(102, struct.pack("<QQ", 200, 0))
        + rec(105, struct.pack("<QQ", 200, 200)) + rec(101, struct.pack("<QQ", 200, 0)),
        "devinfo": rec(11, struct.pack("<iI", 0, 0) + bulk(0, 4096), ctx=0),
        "module": rec(60, b"\x11" * 32 + struct.pack("<QQ", 16, 0) + bulk(0, 16)
                      + struct.pack("<Q", 1))
        + rec(61, struct.pack("<Q", 300) + b"\x11" * 32 + struct.pack("<QII", 16, 0, 0)),
        "getfunc": rec(63, struct.pack("<QQII", 300, 301, 0, 14) + b"_Z9somethingv"),
        "launch": rec(80, struct.pack("<QQIIIIIIII", 301, 0, 1, 1, 1, 32, 1, 1, 0, 8)
                      + b"\x00" * 8, flags=0),
        "sync": rec(27, b"", flags=REPLY | 2),
        "limits": rec(28, struct.pack("<IIQ", 0, 0, 0)) + rec(30, b""),
        # Stream capture and graphs (ops 180-188): a capture on a created
        # stream, a memset captured into it, instantiate, launch, update,
        # upload, destroy; and the same ids on the legacy stream.
        "capture_graph": rec(90, struct.pack("<QIi", 100, 1, 0), flags=0)
        + rec(180, struct.pack("<QII", 100, 2, 0))
        + rec(47, struct.pack("<QQQQQII", 0, 100, 16, 0, 0, 7, 4), flags=0)
        + rec(181, struct.pack("<QQII", 100, 400, 0, 0))
        + rec(184, struct.pack("<QQQ", 400, 401, 0))
        + rec(186, struct.pack("<QQ", 401, 100), flags=0)
        + rec(187, struct.pack("<QQ", 401, 100), flags=0)
        + rec(188, struct.pack("<QQ", 401, 400))
        + rec(185, struct.pack("<Q", 401), flags=0)
        + rec(183, struct.pack("<Q", 400), flags=0),
        "graph_nodes": rec(90, struct.pack("<QIi", 100, 1, 0), flags=0)
        + rec(180, struct.pack("<QII", 100, 2, 0))
        + rec(47, struct.pack("<QQQQQII", 0, 100, 16, 0, 0, 7, 4), flags=0)
        + rec(181, struct.pack("<QQII", 100, 410, 0, 0))
        + rec(189, struct.pack("<Q", 410))
        + rec(190, struct.pack("<QQ", 410, 0) + bulk(0, 4096))
        + rec(191, struct.pack("<QQQQIIIIIIII", 410, 0, 0, 301, 1, 1, 1, 1, 1, 1, 0, 8)
              + b"\x00" * 8),
        "graph_host_func": rec(90, struct.pack("<QIi", 100, 1, 0), flags=0)
        + rec(180, struct.pack("<QII", 100, 2, 0))
        + rec(192, struct.pack("<QQ", 100, 7), flags=0)
        + rec(181, struct.pack("<QQII", 100, 420, 0, 0))
        + rec(193, struct.pack("<QQ", 7, 1), flags=0, ctx=0),
        "capture_legacy": rec(180, struct.pack("<QII", 1, 0, 0))
        + rec(181, struct.pack("<QQII", 1, 402, 1, 0)),
        "graph_create": rec(182, struct.pack("<QII", 403, 0, 0), flags=0)
        + rec(184, struct.pack("<QQQ", 403, 404, 8))
        + rec(186, struct.pack("<QQ", 404, 0), flags=0),
        "goodbye": rec(2, b"", flags=0, ctx=0),
        # Extended launches (110): PDL + cluster attributes, then a launch
        # completion event naming event 200, then 8 parameter bytes.
        "launch_ex": rec(100, struct.pack("<QII", 200, 1, 0))
        + rec(110, struct.pack("<QQ3I3IIIII", 301, 0, 2, 1, 1, 32, 1, 1, 0, 8, 3, 0)
              + launch_attr(6, struct.pack("<i", 1))
              + launch_attr(4, struct.pack("<III", 2, 1, 1))
              + launch_attr(12, struct.pack("<Qii", 200, 0, 0))
              + b"\x00" * 8, flags=0),
        "launch_ex_coop": rec(110, struct.pack("<QQ3I3IIIII", 301, 0, 1, 1, 1, 32, 1, 1, 0, 0,
                                               1, 0) + launch_attr(2, struct.pack("<i", 1))),
        "func_attrs": rec(111, struct.pack("<QiI", 301, 0, 0) + bulk(0, 136))
        + rec(112, struct.pack("<QIi", 301, 1, 0)) + rec(113, struct.pack("<QIi", 301, 1, 0)),
        "occupancy_cluster": rec(114, struct.pack("<QQ3I3IIIII", 301, 0, 4, 1, 1, 64, 1, 1, 0, 1,
                                                  1, 0)
                                 + launch_attr(4, struct.pack("<III", 2, 1, 1))),
        # host-mem: pitched allocations, 2D copies (ops 140-143), 2D memsets
        "alloc_pitch": rec(140, struct.pack("<QQII", 100, 10, 4, 0)),
        "memcpy_2d_htod": rec(141, struct.pack("<QQQQQ", 0, 512, 100, 10, 0) + bulk(0, 1000)
                              + struct.pack("<Q", 1)),
        "memcpy_2d_dtoh": rec(142, struct.pack("<QQQQQ", 0, 512, 100, 10, 0) + bulk(0, 1000)),
        "memcpy_2d_dtod": rec(143, struct.pack("<QQQQQQQ", 0, 512, 0, 512, 100, 10, 0)),
        "memset_2d": rec(47, struct.pack("<QQQQQII", 0, 0, 25, 10, 512, 7, 4)),
        # host-mem: the pinned-memory heap (ops 144-146)
        "heap": rec(144, b"") + rec(145, struct.pack("<QQQQ", 0, 0, 0, 64))
        + rec(146, struct.pack("<QQQQ", 0, 0, 0, 64), flags=0),
    }
    seeds.update(vmm_seeds())
    seeds.update(session_seeds())
    covered = set()
    for name, body in seeds.items():
        covered |= seed_opcodes(body)
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"\x00" + body)
    with open(os.path.join(out, "raw_header"), "wb") as f:
        f.write(b"\x01" + struct.pack("<QIHHQII", 1, 64, 42, 1, 9, CTX, 0) + b"\x00" * 32)
    if dict_path:
        with open(dict_path, "w") as f:
            for t in dictionary():
                f.write('"' + "".join("\\x%02x" % b for b in t) + '"\n')
    missing = sorted(name for name, num in OP.items() if num not in covered)
    if missing:
        print("gen_seeds.py: no fuzz seed calls " + ", ".join("VGPU_OP_" + m for m in missing)
              + " (add one to tests/fuzz/gen_seeds.py)", file=sys.stderr)
        return 1
    print("gen_seeds.py: %d seeds cover all %d opcodes" % (len(seeds) + 1, len(OP)))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
