#!/usr/bin/env python3
"""Writes the seed corpora from the real 1.2.5 client's captured messages.

Usage: make_seeds.py (from the repository root). One directory per fuzz
target: header (16-byte headers), connect (the connect payload), commit,
fence, get, abort (bodies after the command code), buffer (the KVAL blobs
a commit carries), core (a chunk-size byte, then the client's messages
after its connect) and compact (the commit's keys as bridges exchange them).
"""
import os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.join(HERE, "..", "..", "testdata", "v125_client_messages.txt")

def main():
    messages = []
    for line in open(CAPTURE):
        if line.startswith("#") or not line.strip():
            continue
        name, hexdata = line.split()
        messages.append((name, bytes.fromhex(hexdata)))
    seeds = {}
    def add(target, name, data):
        seeds.setdefault(target, []).append((name, data))
    counts = {}
    for name, data in messages:
        counts[name] = counts.get(name, 0) + 1
        tag = "%s%d" % (name, counts[name])
        add("header", tag, data[:16])
        payload = data[16:]
        if name == "connect":
            add("connect", tag, payload)
            continue
        body = payload[8:]  # count + uint32 command
        if name in ("commit", "fence", "get", "abort"):
            add(name, tag, body)
        if name == "commit":
            rest = body
            while rest:
                rest = rest[12:]  # scope: count, type, value
                size = struct.unpack(">Q", rest[8:16])[0]
                add("buffer", "%s_blob%d" % (tag, len(seeds.get("buffer", []))), rest[16:16 + size])
                rest = rest[16 + size:]
    after_connect = b"".join(d for n, d in messages if n not in ("connect", "abort"))
    for chunk in (1, 7, 64):
        add("core", "session_chunk%d" % chunk, bytes([chunk - 1]) + after_connect)
    add("core", "abort", bytes([15]) + [d for n, d in messages if n == "abort"][0])
    # compact: the captured commit's keys in the bridges' compact encoding
    # (protocol/pmix_v1/compact_values.h), one of each form.
    def varint(v):
        out = b""
        while v >= 0x80:
            out += bytes([(v & 0x7F) | 0x80])
            v >>= 7
        return out + bytes([v])
    string = b"cap-str\0" + bytes([3]) + varint(8) + b"hello-v1"
    uint32 = b"cap-u32\0" + bytes([14]) + varint(0x01020304)
    int_ = b"cap-int\0" + bytes([6]) + varint(9)  # zigzag(-5)
    packed_uint32 = struct.pack(">iii", 1, 9, 14) + struct.pack(">I", 7)  # pack(VALUE)
    packed = b"cap-packed\0" + bytes([255]) + varint(len(packed_uint32)) + packed_uint32
    add("compact", "three_kinds", string + uint32 + int_)
    add("compact", "packed_form", packed)
    add("compact", "empty_value", b"k\0" + bytes([3]) + varint(0))
    for target, files in seeds.items():
        os.makedirs(os.path.join(HERE, target), exist_ok=True)
        for name, data in files:
            with open(os.path.join(HERE, target, name), "wb") as f:
                f.write(data)

if __name__ == "__main__":
    main()
