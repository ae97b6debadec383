"""Hostile requests over the real gRPC socket (issue 10, items 9-11): what
the frontend must refuse before anything acts on it, that the controller
survives Node calls, and that no request can forge a line of the driver's
log. Every test here performs the attack against the real binaries and
fails if the attack succeeds."""
import json
import os
import re
import sys
import tempfile

import grpc
import pytest

from driver import ROOT, Driver, csi_pb2

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from lcw_e2e import Env  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start privd")

INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOPO = "topology.lukscryptwalker.csi.k8s.io/node"
SMALL = str(32 << 20)  # volume context capacity: keeps an unfixed run's files small


def mount_cap(fs_type="", flags=()):
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type=fs_type, mount_flags=list(flags)),
        access_mode=csi_pb2.VolumeCapability.AccessMode(
            mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="lcw-hostile-")
    os.chmod(base, 0o755)  # the frontend (uid 65534) reaches its socket below it
    return Env(scratch=base, tag="wire")


@pytest.fixture(scope="module")
def node(env):
    d = env.node_driver()
    yield d
    assert d.stop() == 0, d.output()


@pytest.fixture(scope="module")
def ctrl():
    d = Driver(controller=True)
    yield d
    # No exit-code check: the controller execs lcw-frontend with a fixed
    # environment, so LeakSanitizer runs at exit in the sanitizer build and
    # fails under no_new_privs (as in test_controller_s3).
    d.stop()
    assert "shut down cleanly" in d.output(), d.output()


def code_of(fn, req):
    with pytest.raises(grpc.RpcError) as e:
        fn(req, timeout=30)
    return e.value.code(), e.value.details()


def local_entries(env):
    return sorted(os.listdir(env.local)) if os.path.isdir(env.local) else []


def stage_req(env, vol, *, secrets=None, ctx=None, cap=None, staging=None):
    c = {"capacity": SMALL}
    c.update(ctx or {})
    return csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=staging or env.staging(vol),
        volume_capability=cap or mount_cap(), volume_context=c,
        secrets={"passphrase": "correct horse"} if secrets is None else secrets)


# ---- item 9: strings with an embedded NUL ------------------------------------


@pytest.mark.parametrize("kind,req,field", [
    ("name", lambda: csi_pb2.CreateVolumeRequest(
        name="pvc-nul\0x", volume_capabilities=[mount_cap()]), "name"),
    ("parameter key", lambda: csi_pb2.CreateVolumeRequest(
        name="pvc-nulk", volume_capabilities=[mount_cap()],
        parameters={"fsType\0x": "ext4"}), "parameters.key"),
    ("parameter value", lambda: csi_pb2.CreateVolumeRequest(
        name="pvc-nulv", volume_capabilities=[mount_cap()],
        parameters={"fsType": "ext4\0junk"}), "parameters.value"),
    ("topology value", lambda: csi_pb2.CreateVolumeRequest(
        name="pvc-nult", volume_capabilities=[mount_cap()],
        accessibility_requirements=csi_pb2.TopologyRequirement(preferred=[
            csi_pb2.Topology(segments={TOPO: "node-a\0b"})])),
     "accessibility_requirements.preferred.segments.value"),
])
def test_create_volume_refuses_nul(ctrl, kind, req, field):
    r = req()
    code, details = code_of(ctrl.controller().CreateVolume, r)
    assert code == INVALID and field in details, (kind, code, details)
    # Nothing was recorded under the truncated name: the same name (as
    # the cut would have left it) with another size is not ALREADY_EXISTS.
    if kind == "name":
        ok = ctrl.controller().CreateVolume(csi_pb2.CreateVolumeRequest(
            name="pvc-nul", volume_capabilities=[mount_cap()],
            capacity_range=csi_pb2.CapacityRange(required_bytes=3 << 30)), timeout=10)
        assert ok.volume.capacity_bytes == 3 << 30


def test_delete_volume_refuses_nul_in_secret(ctrl):
    code, details = code_of(ctrl.controller().DeleteVolume, csi_pb2.DeleteVolumeRequest(
        volume_id="pvc-del", secrets={"s3-secret-access-key": "a\0b"}))
    assert code == INVALID and "secrets.value" in details, details


@pytest.mark.parametrize("kind", ["id", "secret value", "passphrase", "context value",
                                  "context key", "staging path", "mount flag", "fsType"])
def test_node_stage_refuses_nul(env, node, kind):
    vol = "pvc-nul-" + kind.replace(" ", "")
    if kind == "id":
        r = stage_req(env, vol + "\0x")
    elif kind in ("secret value", "passphrase"):
        # a passphrase "a\0<random>" must not become the one-byte key "a"
        r = stage_req(env, vol, secrets={"passphrase": "a\0" + os.urandom(16).hex()})
    elif kind == "context value":
        r = stage_req(env, vol, ctx={"passphraseKey": "passphrase\0x"})
    elif kind == "context key":
        r = stage_req(env, vol, ctx={"fs-mode\0x": "0777"})
    elif kind == "staging path":
        r = stage_req(env, vol, staging=env.staging(vol) + "\0/../../x")
    elif kind == "mount flag":
        r = stage_req(env, vol, cap=mount_cap(flags=["noatime\0,suid"]))
    else:
        r = stage_req(env, vol, cap=mount_cap(fs_type="ext4\0x"))
    code, details = code_of(node.node().NodeStageVolume, r)
    assert code == INVALID and "NUL" in details, (kind, code, details)
    assert not [e for e in local_entries(env) if e.startswith("pvc-nul")], local_entries(env)
    ops = [a for a in node.audit_records() if (a.get("volume_id") or "").startswith("pvc-nul")]
    assert ops == [], ops


def test_node_publish_and_unpublish_refuse_nul_in_paths(env, node):
    vol = "pvc-nulpub"
    t = env.target(vol)
    code, details = code_of(node.node().NodePublishVolume, csi_pb2.NodePublishVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), target_path=t + "\0/x",
        volume_capability=mount_cap()))
    assert code == INVALID and "target_path" in details, details
    code, details = code_of(node.node().NodeUnpublishVolume, csi_pb2.NodeUnpublishVolumeRequest(
        volume_id=vol + "\0x", target_path=t))
    assert code == INVALID and "volume_id" in details, details


# ---- item 9: volume ids in every RPC -----------------------------------------

BAD_IDS = ["../x", "/abs", "a/b", "x" * 65536, ".hidden", "-dash", "vfs-cache", "a b", "\u00e9"]


def controller_calls(vol):
    cap = mount_cap()
    rng = csi_pb2.CapacityRange(required_bytes=2 << 30)
    return [
        ("DeleteVolume", csi_pb2.DeleteVolumeRequest(volume_id=vol)),
        ("ControllerExpandVolume", csi_pb2.ControllerExpandVolumeRequest(
            volume_id=vol, capacity_range=rng)),
        ("ValidateVolumeCapabilities", csi_pb2.ValidateVolumeCapabilitiesRequest(
            volume_id=vol, volume_capabilities=[cap])),
    ]


def node_calls(env, vol):
    safe = "pvc-idcheck"
    staging, target = env.staging(safe), env.target(safe)
    rng = csi_pb2.CapacityRange(required_bytes=2 << 30)
    return [
        ("NodeStageVolume", stage_req(env, vol, staging=staging)),
        ("NodeUnstageVolume", csi_pb2.NodeUnstageVolumeRequest(
            volume_id=vol, staging_target_path=staging)),
        ("NodePublishVolume", csi_pb2.NodePublishVolumeRequest(
            volume_id=vol, staging_target_path=staging, target_path=target,
            volume_capability=mount_cap())),
        ("NodeUnpublishVolume", csi_pb2.NodeUnpublishVolumeRequest(
            volume_id=vol, target_path=target)),
        ("NodeExpandVolume", csi_pb2.NodeExpandVolumeRequest(
            volume_id=vol, volume_path=staging, capacity_range=rng)),
        ("NodeGetVolumeStats", csi_pb2.NodeGetVolumeStatsRequest(
            volume_id=vol, volume_path=staging)),
    ]


# An id this driver never makes names no volume: the CSI error tables'
# "Volume does not exist" (NOT_FOUND), and for DeleteVolume 0 OK with
# nothing done (test_conformance walks the tables).
@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda b: b[:12])
def test_controller_rpcs_refuse_bad_ids(ctrl, bad):
    for name, req in controller_calls(bad):
        if name == "DeleteVolume":
            getattr(ctrl.controller(), name)(req, timeout=30)
            continue
        code, details = code_of(getattr(ctrl.controller(), name), req)
        assert code == grpc.StatusCode.NOT_FOUND and "volume_id" in details, (name, code, details)
    assert ctrl.proc.poll() is None


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda b: b[:12])
def test_node_rpcs_refuse_bad_ids(env, node, bad):
    before = len(node.audit_records())
    for name, req in node_calls(env, bad):
        code, details = code_of(getattr(node.node(), name), req)
        assert code == grpc.StatusCode.NOT_FOUND and "volume_id" in details, (name, code, details)
    # refused in the frontend: privd did nothing and recorded nothing
    assert len(node.audit_records()) == before


def test_empty_id_is_required(ctrl, env, node):
    for name, req in controller_calls(""):
        code, details = code_of(getattr(ctrl.controller(), name), req)
        assert code == INVALID and "required" in details, (name, details)
    for name, req in node_calls(env, ""):
        code, details = code_of(getattr(node.node(), name), req)
        assert code == INVALID and "required" in details, (name, details)


# ---- item 9: NodeStage does not follow a symlinked volume directory -----------


def test_stage_refuses_symlinked_volume_dir(env, node):
    vol = "pvc-symlinked"
    elsewhere = os.path.join(env.base, "elsewhere")
    os.makedirs(elsewhere)
    os.makedirs(env.local, exist_ok=True)
    os.symlink(elsewhere, os.path.join(env.local, vol))
    code, details = code_of(node.node().NodeStageVolume, stage_req(env, vol))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "symlink" in details, (code, details)
    assert os.listdir(elsewhere) == []
    made = [a for a in node.audit_records()
            if a.get("volume_id") == vol and a["op"] == "create_backing_file"]
    assert made == [], made


# ---- item 10: the controller survives Node calls -----------------------------


def test_controller_survives_node_calls(ctrl, env):
    """The controller process execs lcw-frontend itself: if the frontend
    exits, the controller is gone."""
    vol = "pvc-ctl"
    calls = node_calls(env, vol) + [
        ("NodeGetCapabilities", csi_pb2.NodeGetCapabilitiesRequest()),
        ("NodeGetInfo", csi_pb2.NodeGetInfoRequest()),
    ]
    for _ in range(2):
        for name, req in calls:
            code, details = code_of(getattr(ctrl.node(), name), req)
            assert code == grpc.StatusCode.UNIMPLEMENTED and "controller" in details, \
                (name, code, details)
    assert ctrl.proc.poll() is None, ctrl.output()
    r = ctrl.controller().ControllerGetCapabilities(
        csi_pb2.ControllerGetCapabilitiesRequest(), timeout=5)
    assert r.capabilities
    assert ctrl.identity().Probe(csi_pb2.ProbeRequest(), timeout=5).ready.value
    assert "privd channel lost" not in ctrl.output()


def test_node_frontend_survives_values_privd_would_refuse(env, node):
    """Values the frontend passes on unchecked but privd's codec refuses
    (control bytes) are answered INVALID_ARGUMENT; the frontend does not
    take them for a broken privd channel and exit."""
    fe = node.frontend_pid()
    s3 = {"storage-backend": "s3", "s3-secret-name": "creds\nx", "s3-secret-namespace": "ns"}
    for ctx in (s3, dict(s3, **{"s3-secret-namespace": "n\x1bs", "s3-secret-name": "c"}),
                {"passphrase-secret-name": "keys\n", "passphrase-secret-namespace": "ns"},
                {"passphrase-secret-name": "keys", "passphrase-secret-namespace": "n\rs"},
                {"passphraseKey": "pass\nphrase", "passphrase-secret-name": "keys",
                 "passphrase-secret-namespace": "ns"}):
        code, details = code_of(node.node().NodeStageVolume, stage_req(env, "pvc-ctl", ctx=ctx))
        assert code == INVALID, (ctx, code, details)
    assert node.frontend_pid() == fe, "the frontend exited"
    assert "privd channel lost" not in node.output()
    assert node.identity().Probe(csi_pb2.ProbeRequest(), timeout=5).ready.value


# ---- item 11: no forged log lines --------------------------------------------

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN|INFO|DEBUG) \S+\[\d+\]: ")
FORGED = "2026-01-01T00:00:00.000Z ERROR privd[1]: FORGED"
PAYLOADS = ["\n" + FORGED, "\r" + FORGED, "\r\n" + FORGED, "\x1b[2K\r" + FORGED,
            "\x1b]0;title\x07" + FORGED, "\u2028" + FORGED, "\xc2\x85" + FORGED]


def assert_log_clean(drv):
    out = drv.output()
    for line in out.split("\n"):
        if not line:
            continue
        if line.startswith("{"):
            assert isinstance(json.loads(line), dict), line  # audit record
            continue
        assert LINE.match(line), f"line without the log prefix: {line!r}"
        assert "\r" not in line and "\x1b" not in line and "\x07" not in line, repr(line)
        assert not line.split(": ", 1)[1].startswith("FORGED")
    assert not any(ln.startswith(FORGED) for ln in out.splitlines())


def test_no_forged_log_lines_node(env, node):
    fe = node.frontend_pid()
    for i, p in enumerate(PAYLOADS):
        vol = f"pvc-log{i}"
        reqs = [
            stage_req(env, vol, cap=mount_cap(fs_type="ext4" + p)),
            stage_req(env, vol, ctx={"passphraseKey": "key" + p}),
            stage_req(env, vol, cap=mount_cap(flags=["noatime" + p])),
            stage_req(env, vol, cap=mount_cap(flags=["x-" + p])),
            stage_req(env, vol + p),
            stage_req(env, vol, staging=env.staging(vol) + p),
            stage_req(env, vol, ctx={"fsGroup": "1" + p, "fs-mode": "07" + p}),
            stage_req(env, vol, ctx={"storage-backend": "s3", "s3-secret-name": "n" + p,
                                     "s3-secret-namespace": "ns", "rclone-x" + p: "1"}),
        ]
        for r in reqs:
            with pytest.raises(grpc.RpcError):
                node.node().NodeStageVolume(r, timeout=30)
    assert node.frontend_pid() == fe
    assert_log_clean(node)


def quietly(fn, req):
    try:
        fn(req, timeout=10)
    except grpc.RpcError:
        pass


def test_no_forged_log_lines_controller(ctrl):
    c = ctrl.controller()
    for p in PAYLOADS:
        for params in ({"fsType": "ext4" + p}, {"storage-backend": "s3", "s3-bucket": p},
                       {"fsGroup": p}, {"storage-backend": "s3", "rclone-x" + p: "1"}):
            quietly(c.CreateVolume, csi_pb2.CreateVolumeRequest(
                name="pvc-log", volume_capabilities=[mount_cap()], parameters=params))
        quietly(c.CreateVolume, csi_pb2.CreateVolumeRequest(
            name="pvc-log" + p, volume_capabilities=[mount_cap()]))
        quietly(c.CreateVolume, csi_pb2.CreateVolumeRequest(
            name="pvc-log", volume_capabilities=[mount_cap(fs_type=p, flags=[p])]))
        quietly(c.ValidateVolumeCapabilities, csi_pb2.ValidateVolumeCapabilitiesRequest(
            volume_id="pvc" + p, volume_capabilities=[mount_cap(fs_type=p)]))
        quietly(c.DeleteVolume, csi_pb2.DeleteVolumeRequest(volume_id="pvc" + p))
    assert ctrl.proc.poll() is None
    assert_log_clean(ctrl)
