#!/usr/bin/env python3
"""Writes the seeds in connect/: PMIx connect messages laid out as
reference/protocols.md §5.4 shows (header in host order, x86-64), for each
client type flag and security module, plus broken ones.
   python3 protocol/pmix/fuzz/corpus/make_seeds.py"""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "connect")


def cstr(text):
    return text.encode() + b"\0"


def message(module="native", uid=1000, gid=1000, flag=0, credential=None, tail=b""):
    payload = cstr(module)
    if credential is None:
        credential = struct.pack("<II", uid, gid) if module == "native" else b""
    payload += struct.pack(">I", len(credential)) + credential
    payload += bytes([flag])
    if 3 <= flag <= 10:  # tools, launchers, singletons name their ids again
        payload += struct.pack(">II", uid, gid)
    if flag == 0 or flag >= 4:
        payload += cstr("prterun-n1-4242@1") + struct.pack(">I", 0)
    payload += cstr("5.0.9") + cstr("v41") + b"\x01" + cstr("hash")
    header = struct.pack("<iIII", -1, 0xFFFFFFFF, len(payload), 0)
    return header + payload + tail


SEEDS = {
    "native-simple-client": message(),                       # the 74-byte §5.4 capture
    "native-root-in-userns": message(uid=0, gid=0),
    "native-tool": message(flag=4, uid=0, gid=0),
    "native-singleton": message(flag=3),
    "native-launcher": message(flag=10),
    "native-then-traffic": message(tail=struct.pack(">iII", 0, 100, 4) + b"\0\0\0\0"),
    "none-module": message(module="none"),
    "munge-module": message(module="munge", credential=b"MUNGE:AwQFAAD...:"),
    "native-long-credential": message(credential=b"\x01" * 12),
    "truncated-in-credential": message()[:27],
    "truncated-in-ids": message(flag=4)[:41],
    "header-only": struct.pack("<iIII", -1, 0xFFFFFFFF, 0, 0),
    "v1-client-header": struct.pack("<iIII", 0, 0, 58, 0) + message()[16:],
    "claims-over-limit": struct.pack("<iIII", -1, 0xFFFFFFFF, 128 * 1024 + 1, 0),
}

os.makedirs(OUT, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(SEEDS)} seeds in {OUT}")
