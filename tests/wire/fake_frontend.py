#!/usr/bin/python3
"""Stands in for lcw-frontend (privd's --frontend-path) to check how privd
treats a frontend that breaks the protocol. It is started exactly like the
real one (uid 65534, channel on fd 3); the scenario comes from --nodeid.
Results go to a file next to the CSI socket. Messages are written as raw
msgpack bytes on purpose: these are the bytes a compromised frontend could
send."""
import os
import socket
import sys

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
sock = socket.socket(fileno=int(args["ipc-fd"]))
scenario = args["nodeid"]
out = []

# A well-formed PING ([2, 1]) is answered with ANS_PING ([3, 1, version, uptime]).
sock.send(b"\x92\x02\x01")
ans = sock.recv(65536)
out.append("ping-ok" if ans[:3] == b"\x94\x03\x01" else f"ping-bad:{ans[:8].hex()}")

if scenario == "fake-unpermitted":
    sock.send(b"\x92\x04\x02")  # SPAWN_FRONTEND: only privd may send it
elif scenario == "fake-unknown-type":
    sock.send(b"\x92\x64\x02")  # type 100: not in the catalogue
elif scenario == "fake-trailing":
    sock.send(b"\x92\x02\x03\x00")  # a PING with one byte too many
elif scenario == "fake-hostile-header":
    sock.send(b"\xdd\xff\xff\xff\xff")  # array32 claiming 4 billion elements
sock.settimeout(10)
try:
    rest = sock.recv(65536)
    out.append("eof" if rest == b"" else f"answered:{rest[:8].hex()}")
except socket.timeout:
    out.append("no-eof")
path = os.path.join(os.path.dirname(args["socket"]), f"result-{scenario}")
with open(path + ".tmp", "w") as f:
    f.write(" ".join(out))
os.rename(path + ".tmp", path)
