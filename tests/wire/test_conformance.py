"""The CSI spec's error tables, row by row, against the real binaries over
the real gRPC socket (issue 11, "Error codes that differ from the spec's
tables"). Each case names the spec section and row it checks and asserts
the exact status code. Required fields are dropped one at a time in the
order the spec lists them; the field the answer names shows which check
fired first.

Node cases run against a real node (privd, spawner, frontend) with no
volume staged: everything here is decided before or without dm-crypt.
Controller cases run against the real controller with a stand-in
Kubernetes API (tests/e2e/fake_kube.py) holding one PersistentVolume, and
against a controller without any API."""
import os
import sys
import tempfile

import grpc
import pytest

from driver import ROOT, Driver, csi_pb2

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_kube import FakeKube  # noqa: E402
from lcw_e2e import Env  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start privd")

C = grpc.StatusCode
AM = csi_pb2.VolumeCapability.AccessMode
KNOWN = "pvc-known-0001"    # has a PersistentVolume in the stand-in API
UNKNOWN = "pvc-unknown-0002"  # well-formed, no PersistentVolume, nothing on the node
MALFORMED = "pvc_not_ours"  # '_' is never in an id of this driver


def cap(fs="ext4", mode=AM.SINGLE_NODE_WRITER):
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type=fs),
        access_mode=AM(mode=mode))


def block_cap():
    return csi_pb2.VolumeCapability(block=csi_pb2.VolumeCapability.BlockVolume(),
                                    access_mode=AM(mode=AM.SINGLE_NODE_WRITER))


def no_mode_cap():
    return csi_pb2.VolumeCapability(mount=csi_pb2.VolumeCapability.MountVolume(fs_type="ext4"))


GIB = 1 << 30
RANGE = csi_pb2.CapacityRange(required_bytes=2 * GIB)


@pytest.fixture(scope="module")
def env():
    base = tempfile.mkdtemp(prefix="lcw-conf-")
    os.chmod(base, 0o755)
    return Env(scratch=base, tag="conf")


@pytest.fixture(scope="module")
def node(env):
    d = env.node_driver()
    yield d
    assert d.stop() == 0, d.output()


@pytest.fixture(scope="module")
def kube():
    k = FakeKube()
    k.set_pvs([("pv-known", KNOWN)])
    yield k
    k.stop()


@pytest.fixture(scope="module")
def ctrl(kube):
    d = tempfile.mkdtemp(prefix="lcw-conf-ctl-")
    os.chmod(d, 0o755)
    c = Driver(controller=True, workdir=d, extra_args=kube.driver_args())
    yield c
    c.stop()


@pytest.fixture(scope="module")
def ctrl_noapi():
    d = tempfile.mkdtemp(prefix="lcw-conf-ctl0-")
    os.chmod(d, 0o755)
    c = Driver(controller=True, workdir=d)
    yield c
    c.stop()


def call(stub, method, req):
    """The status code and message of one call (OK and "" on success)."""
    try:
        getattr(stub, method)(req, timeout=60)
        return C.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


# ---- Node service -------------------------------------------------------------------------
# Each row: (spec section / table row, method, request builder(env), code, word the answer
# must name or None).

def stage(env, **kw):
    a = dict(volume_id=UNKNOWN, staging_target_path=env.staging(UNKNOWN),
             volume_capability=cap(), secrets={"passphrase": "correct horse"},
             volume_context={"capacity": str(32 << 20)})
    a.update(kw)
    return csi_pb2.NodeStageVolumeRequest(**{k: v for k, v in a.items() if v is not None})


def publish(env, **kw):
    a = dict(volume_id=UNKNOWN, staging_target_path=env.staging(UNKNOWN),
             target_path=env.target(UNKNOWN), volume_capability=cap())
    a.update(kw)
    return csi_pb2.NodePublishVolumeRequest(**{k: v for k, v in a.items() if v is not None})


def stats(env, **kw):
    a = dict(volume_id=UNKNOWN, volume_path=env.target(UNKNOWN, pod="statspod"))
    a.update(kw)
    return csi_pb2.NodeGetVolumeStatsRequest(**a)


def expand(env, **kw):
    a = dict(volume_id=UNKNOWN, volume_path=env.staging(UNKNOWN), capacity_range=RANGE)
    a.update(kw)
    return csi_pb2.NodeExpandVolumeRequest(**{k: v for k, v in a.items() if v is not None})


def existing_unmounted(env):
    """A kubelet publish target that exists and holds no mount."""
    d = env.target(UNKNOWN, pod="plainpod")
    os.makedirs(d, exist_ok=True)
    return d


NODE_ROWS = [
    # NodeStageVolume: volume_id, staging_target_path, volume_capability are REQUIRED.
    ("NodeStageVolume: volume_id missing", "NodeStageVolume",
     lambda e: stage(e, volume_id="", staging_target_path="", volume_capability=None),
     C.INVALID_ARGUMENT, "volume_id"),
    ("NodeStageVolume: staging_target_path missing", "NodeStageVolume",
     lambda e: stage(e, staging_target_path="", volume_capability=None),
     C.INVALID_ARGUMENT, "staging_target_path"),
    ("NodeStageVolume: volume_capability missing", "NodeStageVolume",
     lambda e: stage(e, volume_capability=None), C.INVALID_ARGUMENT, "volume_capability"),
    ("NodeStageVolume Errors: Volume does not exist", "NodeStageVolume",
     lambda e: stage(e, volume_id=MALFORMED), C.NOT_FOUND, None),
    ("NodeStageVolume Errors: Exceeds capabilities (block)", "NodeStageVolume",
     lambda e: stage(e, volume_capability=block_cap()), C.FAILED_PRECONDITION, "block"),
    ("NodeStageVolume Errors: Exceeds capabilities (multi-node)", "NodeStageVolume",
     lambda e: stage(e, volume_capability=cap(mode=AM.MULTI_NODE_MULTI_WRITER)),
     C.FAILED_PRECONDITION, "access mode"),
    ("NodeStageVolume Errors: Exceeds capabilities (fsType)", "NodeStageVolume",
     lambda e: stage(e, volume_capability=cap(fs="btrfs")), C.FAILED_PRECONDITION, "fsType"),
    ("NodeStageVolume: capability without access mode", "NodeStageVolume",
     lambda e: stage(e, volume_capability=no_mode_cap()), C.INVALID_ARGUMENT, "access mode"),
    # NodeUnstageVolume: volume_id, staging_target_path REQUIRED.
    ("NodeUnstageVolume: volume_id missing", "NodeUnstageVolume",
     lambda e: csi_pb2.NodeUnstageVolumeRequest(), C.INVALID_ARGUMENT, "volume_id"),
    ("NodeUnstageVolume: staging_target_path missing", "NodeUnstageVolume",
     lambda e: csi_pb2.NodeUnstageVolumeRequest(volume_id=UNKNOWN), C.INVALID_ARGUMENT,
     "staging_target_path"),
    ("NodeUnstageVolume Errors: Volume does not exist", "NodeUnstageVolume",
     lambda e: csi_pb2.NodeUnstageVolumeRequest(volume_id=MALFORMED,
                                                staging_target_path=e.staging(UNKNOWN)),
     C.NOT_FOUND, None),
    # NodePublishVolume: volume_id, target_path, volume_capability REQUIRED; then
    # staging_target_path, which a STAGE_UNSTAGE_VOLUME plugin needs.
    ("NodePublishVolume: volume_id missing", "NodePublishVolume",
     lambda e: publish(e, volume_id="", staging_target_path="", target_path="",
                       volume_capability=None), C.INVALID_ARGUMENT, "volume_id"),
    ("NodePublishVolume: target_path missing", "NodePublishVolume",
     lambda e: publish(e, staging_target_path="", target_path="", volume_capability=None),
     C.INVALID_ARGUMENT, "target_path"),
    ("NodePublishVolume: volume_capability missing", "NodePublishVolume",
     lambda e: publish(e, staging_target_path="", volume_capability=None),
     C.INVALID_ARGUMENT, "volume_capability"),
    ("NodePublishVolume Errors: Staging target path not set", "NodePublishVolume",
     lambda e: publish(e, staging_target_path=""), C.FAILED_PRECONDITION,
     "staging_target_path"),
    ("NodePublishVolume Errors: Volume does not exist", "NodePublishVolume",
     lambda e: publish(e, volume_id=MALFORMED), C.NOT_FOUND, None),
    ("NodePublishVolume Errors: Exceeds capabilities (block)", "NodePublishVolume",
     lambda e: publish(e, volume_capability=block_cap()), C.FAILED_PRECONDITION, "block"),
    ("NodePublishVolume Errors: Exceeds capabilities (multi-node)", "NodePublishVolume",
     lambda e: publish(e, volume_capability=cap(mode=AM.MULTI_NODE_READER_ONLY)),
     C.FAILED_PRECONDITION, "access mode"),
    # NodeUnpublishVolume: volume_id, target_path REQUIRED.
    ("NodeUnpublishVolume: volume_id missing", "NodeUnpublishVolume",
     lambda e: csi_pb2.NodeUnpublishVolumeRequest(), C.INVALID_ARGUMENT, "volume_id"),
    ("NodeUnpublishVolume: target_path missing", "NodeUnpublishVolume",
     lambda e: csi_pb2.NodeUnpublishVolumeRequest(volume_id=UNKNOWN), C.INVALID_ARGUMENT,
     "target_path"),
    ("NodeUnpublishVolume Errors: Volume does not exist", "NodeUnpublishVolume",
     lambda e: csi_pb2.NodeUnpublishVolumeRequest(volume_id=MALFORMED,
                                                  target_path=e.target(UNKNOWN)),
     C.NOT_FOUND, None),
    # NodeGetVolumeStats: volume_id, volume_path REQUIRED; one row, NOT_FOUND.
    ("NodeGetVolumeStats: volume_id missing", "NodeGetVolumeStats",
     lambda e: stats(e, volume_id="", volume_path=""), C.INVALID_ARGUMENT, "volume_id"),
    ("NodeGetVolumeStats: volume_path missing", "NodeGetVolumeStats",
     lambda e: stats(e, volume_path=""), C.INVALID_ARGUMENT, "volume_path"),
    ("NodeGetVolumeStats Errors: Volume does not exist (id)", "NodeGetVolumeStats",
     lambda e: stats(e, volume_id=MALFORMED), C.NOT_FOUND, None),
    ("NodeGetVolumeStats Errors: Volume does not exist on volume_path (absent path)",
     "NodeGetVolumeStats", lambda e: stats(e), C.NOT_FOUND, None),
    ("NodeGetVolumeStats Errors: Volume does not exist on volume_path (not mounted)",
     "NodeGetVolumeStats", lambda e: stats(e, volume_path=existing_unmounted(e)),
     C.NOT_FOUND, None),
    ("NodeGetVolumeStats Errors: Volume does not exist on volume_path (relative)",
     "NodeGetVolumeStats", lambda e: stats(e, volume_path="var/lib/kubelet/x"),
     C.NOT_FOUND, None),
    ("NodeGetVolumeStats Errors: Volume does not exist on volume_path (outside kubelet)",
     "NodeGetVolumeStats", lambda e: stats(e, volume_path="/tmp"), C.NOT_FOUND, None),
    # NodeExpandVolume: volume_id, volume_path REQUIRED.
    ("NodeExpandVolume: volume_id missing", "NodeExpandVolume",
     lambda e: expand(e, volume_id="", volume_path=""), C.INVALID_ARGUMENT, "volume_id"),
    ("NodeExpandVolume: volume_path missing", "NodeExpandVolume",
     lambda e: expand(e, volume_path=""), C.INVALID_ARGUMENT, "volume_path"),
    ("NodeExpandVolume Errors: Volume does not exist (id)", "NodeExpandVolume",
     lambda e: expand(e, volume_id=MALFORMED), C.NOT_FOUND, None),
    ("NodeExpandVolume Errors: Volume does not exist (absent path)", "NodeExpandVolume",
     lambda e: expand(e), C.NOT_FOUND, None),
    ("NodeExpandVolume Errors: Volume does not exist (not mounted)", "NodeExpandVolume",
     lambda e: expand(e, volume_path=existing_unmounted(e)), C.NOT_FOUND, None),
    ("NodeExpandVolume Errors: Volume does not exist (relative path)", "NodeExpandVolume",
     lambda e: expand(e, volume_path="globalmount"), C.NOT_FOUND, None),
    ("NodeExpandVolume Errors: Volume does not exist (outside kubelet)", "NodeExpandVolume",
     lambda e: expand(e, volume_path="/tmp"), C.NOT_FOUND, None),
    # capacity_range is OPTIONAL: leaving it out is no argument error, the
    # unknown volume is still the answer.
    ("NodeExpandVolume: capacity_range OPTIONAL (unknown volume)", "NodeExpandVolume",
     lambda e: expand(e, capacity_range=None), C.NOT_FOUND, None),
    ("NodeExpandVolume Errors: Exceeds capabilities", "NodeExpandVolume",
     lambda e: expand(e, volume_capability=block_cap()), C.INVALID_ARGUMENT, "block"),
    ("NodeExpandVolume Errors: Unsupported capacity_range", "NodeExpandVolume",
     lambda e: expand(e, capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GIB,
                                                              limit_bytes=GIB)),
     C.OUT_OF_RANGE, None),
]


@pytest.mark.parametrize("row,method,build,code,names", NODE_ROWS,
                         ids=[r[0] for r in NODE_ROWS])
def test_node_error_table(env, node, row, method, build, code, names):
    got, details = call(node.node(), method, build(env))
    assert got == code, (row, got, details)
    if names:
        assert names in details, (row, details)


def test_node_not_found_touched_nothing(env, node):
    """The NOT_FOUND rows above left no backing file or mapping behind."""
    assert os.listdir(env.local) == []


# ---- Controller service -----------------------------------------------------------------

def vvc(vol, caps=None):
    return csi_pb2.ValidateVolumeCapabilitiesRequest(
        volume_id=vol, volume_capabilities=[cap()] if caps is None else caps)


def cexpand(vol, rng=RANGE, vcap=None):
    return csi_pb2.ControllerExpandVolumeRequest(volume_id=vol, capacity_range=rng,
                                                 volume_capability=vcap)


def create(name="pvc-conf-create", size=GIB, **kw):
    return csi_pb2.CreateVolumeRequest(
        name=name, volume_capabilities=kw.pop("caps", [cap()]),
        capacity_range=csi_pb2.CapacityRange(required_bytes=size), **kw)


CTRL_ROWS = [
    # CreateVolume: name, volume_capabilities REQUIRED.
    ("CreateVolume: name missing", "CreateVolume",
     lambda: csi_pb2.CreateVolumeRequest(), C.INVALID_ARGUMENT, "name"),
    ("CreateVolume: volume_capabilities missing", "CreateVolume",
     lambda: csi_pb2.CreateVolumeRequest(name="pvc-conf-nocaps"), C.INVALID_ARGUMENT,
     "volume_capabilities"),
    ("CreateVolume Errors: Source incompatible or not supported", "CreateVolume",
     lambda: create(name="pvc-conf-src", volume_content_source=csi_pb2.VolumeContentSource(
         volume=csi_pb2.VolumeContentSource.VolumeSource(volume_id=KNOWN))),
     C.INVALID_ARGUMENT, "clones"),
    ("CreateVolume Errors: Volume already exists but is incompatible", "CreateVolume",
     lambda: create(size=3 * GIB), C.ALREADY_EXISTS, None),  # after test_create_first
    ("CreateVolume Errors: Unsupported capacity_range", "CreateVolume",
     lambda: csi_pb2.CreateVolumeRequest(
         name="pvc-conf-range", volume_capabilities=[cap()],
         capacity_range=csi_pb2.CapacityRange(required_bytes=2 * GIB, limit_bytes=GIB)),
     C.OUT_OF_RANGE, None),
    # DeleteVolume: volume_id REQUIRED; a volume that does not exist is 0 OK.
    ("DeleteVolume: volume_id missing", "DeleteVolume",
     lambda: csi_pb2.DeleteVolumeRequest(), C.INVALID_ARGUMENT, "volume_id"),
    ("DeleteVolume: volume does not exist is OK", "DeleteVolume",
     lambda: csi_pb2.DeleteVolumeRequest(volume_id=UNKNOWN), C.OK, None),
    ("DeleteVolume: an id this driver never makes is OK", "DeleteVolume",
     lambda: csi_pb2.DeleteVolumeRequest(volume_id=MALFORMED), C.OK, None),
    # ValidateVolumeCapabilities: volume_id, volume_capabilities REQUIRED.
    ("ValidateVolumeCapabilities: volume_id missing", "ValidateVolumeCapabilities",
     lambda: vvc(""), C.INVALID_ARGUMENT, "volume_id"),
    ("ValidateVolumeCapabilities: volume_capabilities missing", "ValidateVolumeCapabilities",
     lambda: vvc(KNOWN, caps=[]), C.INVALID_ARGUMENT, "volume_capabilities"),
    ("ValidateVolumeCapabilities Errors: Volume does not exist (no PV)",
     "ValidateVolumeCapabilities", lambda: vvc(UNKNOWN), C.NOT_FOUND, UNKNOWN),
    ("ValidateVolumeCapabilities Errors: Volume does not exist (not an id of ours)",
     "ValidateVolumeCapabilities", lambda: vvc(MALFORMED), C.NOT_FOUND, None),
    ("ValidateVolumeCapabilities: an existing volume", "ValidateVolumeCapabilities",
     lambda: vvc(KNOWN), C.OK, None),
    # ControllerExpandVolume: volume_id, capacity_range REQUIRED.
    ("ControllerExpandVolume: volume_id missing", "ControllerExpandVolume",
     lambda: cexpand("", rng=None), C.INVALID_ARGUMENT, "volume_id"),
    ("ControllerExpandVolume: capacity_range missing", "ControllerExpandVolume",
     lambda: cexpand(KNOWN, rng=None), C.INVALID_ARGUMENT, "capacity_range"),
    ("ControllerExpandVolume Errors: Volume does not exist", "ControllerExpandVolume",
     lambda: cexpand(UNKNOWN), C.NOT_FOUND, UNKNOWN),
    ("ControllerExpandVolume Errors: Volume does not exist (not an id of ours)",
     "ControllerExpandVolume", lambda: cexpand(MALFORMED), C.NOT_FOUND, None),
    ("ControllerExpandVolume Errors: Exceeds capabilities", "ControllerExpandVolume",
     lambda: cexpand(KNOWN, vcap=block_cap()), C.INVALID_ARGUMENT, "block"),
    ("ControllerExpandVolume Errors: Unsupported capacity_range", "ControllerExpandVolume",
     lambda: cexpand(KNOWN, rng=csi_pb2.CapacityRange(required_bytes=2 * GIB,
                                                      limit_bytes=GIB)),
     C.OUT_OF_RANGE, None),
    ("ControllerExpandVolume: an existing volume", "ControllerExpandVolume",
     lambda: cexpand(KNOWN), C.OK, None),
]


def test_create_first(ctrl):
    """The volume the ALREADY_EXISTS row asks for again with another size."""
    r = ctrl.controller().CreateVolume(create(), timeout=30)
    assert r.volume.capacity_bytes == GIB


@pytest.mark.parametrize("row,method,build,code,names", CTRL_ROWS,
                         ids=[r[0] for r in CTRL_ROWS])
def test_controller_error_table(ctrl, row, method, build, code, names):
    got, details = call(ctrl.controller(), method, build())
    assert got == code, (row, got, details)
    if names:
        assert names in details, (row, details)


def test_validate_confirms_only_what_is_supported(ctrl):
    """ValidateVolumeCapabilities of an existing volume: confirmed for a
    supported capability, not confirmed (with a message) for block."""
    ok = ctrl.controller().ValidateVolumeCapabilities(vvc(KNOWN), timeout=30)
    assert ok.confirmed.volume_capabilities and not ok.message
    no = ctrl.controller().ValidateVolumeCapabilities(vvc(KNOWN, caps=[block_cap()]), timeout=30)
    assert not no.HasField("confirmed") and "block" in no.message


def test_validate_api_down_is_unavailable(ctrl, kube):
    """An API that does not answer is not "does not exist": UNAVAILABLE."""
    kube.set_fail(500)
    try:
        got, details = call(ctrl.controller(), "ValidateVolumeCapabilities", vvc(KNOWN))
    finally:
        kube.set_fail(None)
    assert got == C.UNAVAILABLE, details


def test_validate_without_api_answers_from_request(ctrl_noapi):
    """Without a Kubernetes API the controller has no record of its volumes
    (README): a well-formed id is validated from the request alone, an id
    this driver never makes is still NOT_FOUND."""
    ok = ctrl_noapi.controller().ValidateVolumeCapabilities(vvc(UNKNOWN), timeout=30)
    assert ok.confirmed.volume_capabilities
    got, _ = call(ctrl_noapi.controller(), "ValidateVolumeCapabilities", vvc(MALFORMED))
    assert got == C.NOT_FOUND


# ---- Identity service ---------------------------------------------------------------------

def test_probe_ok(node):
    """Probe Errors: a healthy plugin answers OK (FAILED_PRECONDITION is for
    a plugin that is not; test_identity covers a dead privd)."""
    assert node.identity().Probe(csi_pb2.ProbeRequest(), timeout=10).ready.value
