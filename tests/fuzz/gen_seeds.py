#!/usr/bin/env python3
"""Write a seed corpus for fuzz_dispatch: framed inputs of plausible calls.

Seeds give the fuzzer the shape of real traffic (the ids the first HELLO
and primary context use, bulk references inside the area, names) so it
mutates from there instead of rediscovering the framing.
"""
import os
import struct
import sys

CTX = 16  # the harness retains the primary context under this id
REPLY = 1


def rec(op, payload, flags=REPLY, ctx=CTX):
    return struct.pack("<HHIH", op, flags, ctx, len(payload)) + payload


def bulk(off, length):
    return struct.pack("<QQ", off, length)


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


def main(out):
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
    for name, body in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"\x00" + body)
    with open(os.path.join(out, "raw_header"), "wb") as f:
        f.write(b"\x01" + struct.pack("<QIHHQII", 1, 64, 42, 1, 9, CTX, 0) + b"\x00" * 32)


if __name__ == "__main__":
    main(sys.argv[1])
