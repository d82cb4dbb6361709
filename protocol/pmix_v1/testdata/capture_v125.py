#!/usr/bin/env python3
"""Captures the bytes a real PMIx 1.2.5 client sends (capture_client.c).

Usage: capture_v125.py PMIX_PREFIX OUT_FILE
Builds capture_client against PMIX_PREFIX, serves it on a Unix socket as a
minimal v1.2 server would (connect answered with success and index 0, REQ
with the nspace, every other request with status 0, COMMIT unanswered),
with an empty dstore directory so the client starts, and writes every
message it received as "NAME HEX" lines (the connect message with its
header, commands as header + payload). Run it under the job's uid.
"""
import os, socket, struct, subprocess, sys, tempfile

NAMES = {0: "req", 1: "abort", 2: "commit", 3: "fence", 4: "get", 5: "finalize"}

def be_string(s):
    b = s.encode() + b"\0"
    return struct.pack(">i", 1) + struct.pack(">i", len(b)) + b

def status(rc):
    return struct.pack(">i", 1) + struct.pack(">i", 9) + struct.pack(">i", rc)

def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data

def serve(conn, out, nspace):
    hdr = recv_exact(conn, 16)
    pindex, tag, nbytes = struct.unpack("<iIQ", hdr)
    body = recv_exact(conn, nbytes)
    out.append(("connect", hdr + body))
    conn.sendall(struct.pack("<ii", 0, 0))
    while True:
        hdr = recv_exact(conn, 16)
        if hdr is None:
            return
        pindex, tag, nbytes = struct.unpack("<iIQ", hdr)
        body = recv_exact(conn, nbytes) if nbytes else b""
        cmd = struct.unpack(">I", body[4:8])[0]
        name = NAMES.get(cmd, "cmd%d" % cmd)
        out.append((name, hdr + body))
        if cmd == 2:
            continue
        reply = be_string(nspace) if cmd == 0 else status(0)
        conn.sendall(struct.pack("<iIQ", -1, tag, len(reply)) + reply)
        if cmd == 5:
            return

def main():
    prefix, out_file = sys.argv[1], sys.argv[2]
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="pmixv1-capture.")
    client = os.path.join(work, "capture_client")
    subprocess.check_call(["gcc", "-O2", "-I%s/include" % prefix, "-o", client,
                           os.path.join(here, "capture_client.c"), "-L%s/lib" % prefix,
                           "-lpmix", "-Wl,-rpath,%s/lib" % prefix])
    store = os.path.join(work, "dstore")
    os.mkdir(store)
    with open(os.path.join(store, "initial-pmix_shared-segment-0"), "wb") as f:
        f.write(b"\0" * 4096)
    with open(os.path.join(store, "dstore_sm.lock"), "wb") as f:
        f.write(b"\0" * os.sysconf("SC_PAGE_SIZE"))
    nspace = "capture-ns"
    lines = []
    for variant in ("plain", "abort"):
        path = os.path.join(work, "sock-" + variant)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        env = dict(os.environ, PMIX_NAMESPACE=nspace, PMIX_RANK="0",
                   PMIX_SERVER_URI="server-ns:0:" + path, PMIX_DSTORE_ESH_BASE_PATH=store)
        proc = subprocess.Popen([client] + (["abort"] if variant == "abort" else []), env=env)
        conn, _ = listener.accept()
        got = []
        serve(conn, got, nspace)
        conn.close()
        proc.wait(timeout=20)
        for name, data in got:
            if variant == "plain" or name == "abort":
                lines.append("%s %s" % (name, data.hex()))
    with open(out_file, "w") as f:
        f.write("# Bytes sent by the OpenPMIx 1.2.5 client (capture_v125.py), one message a line:\n")
        f.write("# NAME HEX (16-byte header + payload). nspace capture-ns, rank 0.\n")
        for line in lines:
            f.write(line + "\n")

if __name__ == "__main__":
    main()
