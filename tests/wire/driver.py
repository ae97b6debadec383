"""Start and inspect the real two-process driver for wire tests.

The driver binaries come from LCW_BIN_DIR (default build/bin). Sanitizer
builds are run with leak detection off inside the sandboxed processes:
LeakSanitizer stops the world with ptrace, which their seccomp policies
forbid; leaks are checked by the unit tests instead.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN_DIR = os.environ.get("LCW_BIN_DIR", os.path.join(ROOT, "build", "bin"))
GEN_PY = os.path.join(ROOT, "build", "gen", "py")
sys.path.insert(0, GEN_PY)

import grpc  # noqa: E402
import csi_pb2  # noqa: E402,F401
import csi_pb2_grpc  # noqa: E402,F401


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def children(pid):
    kids = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return kids


class Driver:
    """One running lukscryptwalker-csi with its spawner and frontend."""

    def __init__(self, extra_args=(), nodeid="node-a", extra_env=None, workdir=None,
                 controller=False):
        self.controller_mode = controller
        self.dir = workdir or tempfile.mkdtemp(prefix="lcw-wire-")
        os.chmod(self.dir, 0o755)  # the frontend (uid 65534) must reach the socket
        self.sock = os.path.join(self.dir, "controller" if controller else "plugin", "csi.sock")
        self.audit = os.path.join(self.dir, "audit.log")
        self.log = open(os.path.join(self.dir, "driver.log"), "a+")
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=66",
               "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=67"}
        env.update(extra_env or {})
        os.makedirs(os.path.dirname(self.sock), exist_ok=True)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(
            [os.path.join(BIN_DIR, "lukscryptwalker-csi"),
             f"--endpoint=unix://{self.sock}", f"--nodeid={nodeid}",
             *([] if controller else [f"--audit-log={self.audit}"]),
             *(["--mode=controller"] if controller else []), *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.channel = None
        self.wait_ready()

    def wait_ready(self, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("driver exited early:\n" + self.output())
            if os.path.exists(self.sock):
                try:
                    self.identity().Probe(csi_pb2.ProbeRequest(), timeout=2)
                    return
                except grpc.RpcError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("driver not ready:\n" + self.output())

    def connect(self):
        if self.channel is None:
            self.channel = grpc.insecure_channel(f"unix://{self.sock}")
        return self.channel

    def reconnect(self):
        if self.channel is not None:
            self.channel.close()
        self.channel = None
        return self.connect()

    def identity(self):
        return csi_pb2_grpc.IdentityStub(self.connect())

    def node(self):
        return csi_pb2_grpc.NodeStub(self.connect())

    def controller(self):
        return csi_pb2_grpc.ControllerStub(self.connect())

    def spawner_pid(self):
        kids = children(self.proc.pid)
        assert len(kids) == 1, kids
        return kids[0]

    def frontend_pid(self):
        kids = children(self.spawner_pid())
        assert len(kids) == 1, kids
        return kids[0]

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def audit_records(self):
        with open(self.audit) as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
