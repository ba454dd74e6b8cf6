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
        "goodbye": rec(2, b"", flags=0, ctx=0),
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
    for name, body in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b"\x00" + body)
    with open(os.path.join(out, "raw_header"), "wb") as f:
        f.write(b"\x01" + struct.pack("<QIHHQII", 1, 64, 42, 1, 9, CTX, 0) + b"\x00" * 32)


if __name__ == "__main__":
    main(sys.argv[1])
