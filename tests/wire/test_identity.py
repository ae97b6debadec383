"""Wire tests: the real two-process driver on a real unix socket, called with
the real gRPC client, as kubelet and the CSI sidecars would call it."""
import concurrent.futures
import os
import signal
import socket
import subprocess
import time

import grpc
import pytest

from driver import BIN_DIR, ROOT, Driver, csi_pb2, proc_status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start privd")


@pytest.fixture(scope="module")
def drv():
    d = Driver()
    yield d
    rc = d.stop()
    assert rc == 0, d.output()


def cap_mask(path):
    """Capability mask of a policy/*.caps file."""
    numbers = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2,
               "CAP_FOWNER": 3, "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6,
               "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_IPC_LOCK": 14,
               "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24,
               "CAP_MKNOD": 27}
    mask = 0
    with open(path) as f:
        for line in f:
            name = line.split("#")[0].strip()
            if name:
                mask |= 1 << numbers[name]
    return mask


def test_plugin_info(drv):
    r = drv.identity().GetPluginInfo(csi_pb2.GetPluginInfoRequest(), timeout=5)
    assert r.name == "lukscryptwalker.csi.k8s.io"
    assert r.vendor_version


def test_plugin_capabilities(drv):
    r = drv.identity().GetPluginCapabilities(csi_pb2.GetPluginCapabilitiesRequest(), timeout=5)
    kinds = {c.service.type for c in r.capabilities}
    assert csi_pb2.PluginCapability.Service.CONTROLLER_SERVICE in kinds


def test_probe_ready(drv):
    r = drv.identity().Probe(csi_pb2.ProbeRequest(), timeout=5)
    assert r.ready.value is True


def test_probe_fails_while_privd_is_stopped(drv):
    """Probe round-trips to privd: a wedged privd makes it fail."""
    os.kill(drv.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        with pytest.raises(grpc.RpcError) as e:
            drv.identity().Probe(csi_pb2.ProbeRequest(), timeout=15)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "privd" in e.value.details()
        assert time.time() - t0 < 10
    finally:
        os.kill(drv.proc.pid, signal.SIGCONT)
    assert drv.identity().Probe(csi_pb2.ProbeRequest(), timeout=5).ready.value


def test_unimplemented_method_answers_at_once(drv):
    t0 = time.time()
    with pytest.raises(grpc.RpcError) as e:
        drv.controller().ListSnapshots(csi_pb2.ListSnapshotsRequest(), timeout=10)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert time.time() - t0 < 2


def test_unknown_method_answers_at_once(drv):
    t0 = time.time()
    for path in ("/csi.v1.Nope/Nothing", "/csi.v1.GroupController/GroupControllerGetCapabilities"):
        with pytest.raises(grpc.RpcError) as e:
            drv.connect().unary_unary(path)(b"", timeout=10)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert time.time() - t0 < 2


def test_malformed_request_is_invalid_argument(drv):
    call = drv.connect().unary_unary("/csi.v1.Identity/GetPluginInfo")
    with pytest.raises(grpc.RpcError) as e:
        call(b"\xff\xff\xff\xff", timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed" in e.value.details()


def test_oversized_request_is_refused(drv):
    call = drv.connect().unary_unary("/csi.v1.Identity/Probe")
    with pytest.raises(grpc.RpcError) as e:
        call(b"\x0a" * (2 << 20), timeout=10)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # and the server is still serving
    assert drv.identity().Probe(csi_pb2.ProbeRequest(), timeout=5).ready.value


def test_calls_are_served_concurrently(drv):
    """A call stuck on privd must not block others: stop privd, start slow
    Probes, and check that GetPluginInfo (no privd) still answers at once."""
    os.kill(drv.proc.pid, signal.SIGSTOP)
    try:
        pool = concurrent.futures.ThreadPoolExecutor(4)
        slow = [pool.submit(drv.identity().Probe, csi_pb2.ProbeRequest(), timeout=15)
                for _ in range(3)]
        time.sleep(0.3)
        t0 = time.time()
        r = drv.identity().GetPluginInfo(csi_pb2.GetPluginInfoRequest(), timeout=5)
        assert r.name and time.time() - t0 < 1.0
    finally:
        os.kill(drv.proc.pid, signal.SIGCONT)
    for f in slow:
        try:
            f.result()
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        rs = list(pool.map(lambda _: drv.identity().Probe(csi_pb2.ProbeRequest(), timeout=10),
                           range(64)))
    assert all(r.ready.value for r in rs)


def test_frontend_is_confined(drv):
    st = proc_status(drv.frontend_pid())
    uids = [int(x) for x in st["Uid"].split()]
    gids = [int(x) for x in st["Gid"].split()]
    assert all(u == 65534 for u in uids), uids
    assert all(g == 65534 for g in gids), gids
    assert st["Groups"] == ""
    for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(st[k], 16) == 0, (k, st[k])
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"


def test_privd_is_confined(drv):
    st = proc_status(drv.proc.pid)
    assert st["Uid"].split()[0] == "0"
    want = cap_mask(os.path.join(ROOT, "policy", "privd.caps"))
    available = int(proc_status(os.getpid())["CapBnd"], 16)
    assert int(st["CapEff"], 16) == want & available
    assert int(st["CapPrm"], 16) == want & available
    assert int(st["CapBnd"], 16) == want & available
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"


def test_spawner_is_confined(drv):
    st = proc_status(drv.spawner_pid())
    want = cap_mask(os.path.join(ROOT, "policy", "spawner.caps"))
    available = int(proc_status(os.getpid())["CapBnd"], 16)
    assert int(st["CapBnd"], 16) == want & available
    assert st["Seccomp"] == "2"


def test_privd_does_not_link_grpc_or_protobuf():
    out = subprocess.run(["ldd", os.path.join(BIN_DIR, "lukscryptwalker-csi")],
                         capture_output=True, text=True, check=True).stdout
    assert "libgrpc" not in out and "protobuf" not in out
    fe = subprocess.run(["ldd", os.path.join(BIN_DIR, "lcw-frontend")],
                        capture_output=True, text=True, check=True).stdout
    assert "libgrpc" in fe  # the check above would notice a renamed library


def test_frontend_restarts_after_crash(drv):
    old = drv.frontend_pid()
    os.kill(old, signal.SIGKILL)
    end = time.time() + 15
    new = None
    while time.time() < end:
        try:
            new = drv.frontend_pid()
            if new != old:
                drv.reconnect()
                drv.identity().Probe(csi_pb2.ProbeRequest(), timeout=2)
                break
        except (AssertionError, FileNotFoundError, grpc.RpcError):
            pass
        time.sleep(0.2)
    assert new and new != old
    ops = [r["op"] for r in drv.audit_records()]
    assert ops.count("spawn_frontend") >= 2
    exits = [r for r in drv.audit_records() if r["op"] == "child_exit"]
    assert any("killed by signal 9" in r.get("detail", "") for r in exits)


def test_audit_records_are_complete_json(drv):
    recs = drv.audit_records()
    assert recs
    for r in recs:
        for k in ("time", "op", "volume_id", "paths", "result", "errno", "duration_ms"):
            assert k in r, (k, r)
        assert r["result"] in ("ok", "error")


def test_sigterm_stops_cleanly_and_removes_socket():
    d = Driver()
    fe = d.frontend_pid()
    rc = d.stop()
    assert rc == 0, d.output()
    assert not os.path.exists(d.sock)
    assert not os.path.exists(f"/proc/{fe}")
    assert "shut down cleanly" in d.output()


def test_frontend_exits_nonzero_when_privd_dies():
    d = Driver()
    fe = d.frontend_pid()
    d.stop(sig=signal.SIGKILL)
    end = time.time() + 10
    while os.path.exists(f"/proc/{fe}") and time.time() < end:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{fe}")
    out = d.output()
    assert "privd channel lost" in out, out
    # The serving frontend may remove no file (frontend_serving.seccomp) and
    # privd is gone: the socket file may stay, but nothing answers on it.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(OSError):
        s.connect(d.sock)
    s.close()


def test_refuses_missing_nodeid_and_bad_endpoint():
    exe = os.path.join(BIN_DIR, "lukscryptwalker-csi")
    r = subprocess.run([exe, "--endpoint=unix:///tmp/x.sock"], capture_output=True, text=True)
    assert r.returncode == 2 and "--nodeid" in r.stderr
    r = subprocess.run([exe, "--nodeid=a", "--endpoint=tcp://0.0.0.0:1"], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "endpoint" in r.stderr
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "lukscryptwalker-csi version" in r.stdout


def test_refuses_unreachable_socket_dir(tmp_path):
    os.chmod(tmp_path, 0o700)
    r = subprocess.run([os.path.join(BIN_DIR, "lukscryptwalker-csi"), "--nodeid=a",
                        f"--endpoint=unix://{tmp_path}/sub/csi.sock"], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 2 and "cannot traverse" in r.stderr, r.stderr


def test_refuses_regular_file_at_socket_path(tmp_path):
    p = tmp_path / "csi.sock"
    p.write_text("not a socket")
    r = subprocess.run([os.path.join(BIN_DIR, "lukscryptwalker-csi"), "--nodeid=a",
                        f"--endpoint=unix://{p}"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "not a socket" in r.stderr
    assert p.read_text() == "not a socket"


@pytest.mark.parametrize("scenario", ["fake-unpermitted", "fake-unknown-type", "fake-trailing",
                                      "fake-hostile-header"])
def test_privd_drops_a_frontend_that_breaks_the_protocol(scenario):
    """privd answers a well-formed request, then closes the channel on the
    first message outside the protocol (an unpermitted or unknown type,
    trailing bytes, a hostile msgpack header) and acts on none of it."""
    import pathlib
    import tempfile
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="lcw-proto-"))
    os.chmod(tmp_path, 0o755)  # the fake runs as uid 65534
    fake = os.path.join(ROOT, "tests", "wire", "fake_frontend.py")
    sockdir = tmp_path / "plugin"
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "ASAN_OPTIONS": "detect_leaks=0", "UBSAN_OPTIONS": "halt_on_error=1"}
    p = subprocess.Popen([os.path.join(BIN_DIR, "lukscryptwalker-csi"), f"--nodeid={scenario}",
                          f"--endpoint=unix://{sockdir}/csi.sock", f"--frontend-path={fake}",
                          f"--audit-log={tmp_path}/audit.log"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    result = sockdir / f"result-{scenario}"
    end = time.time() + 20
    while not result.exists() and time.time() < end:
        time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    out = p.communicate(timeout=20)[0].decode()
    assert result.exists(), out
    assert result.read_text() == "ping-ok eof", out
    audit = (tmp_path / "audit.log").read_text()
    assert '"op":"reject_frontend_message"' in audit, audit
    assert p.returncode == 0, out
