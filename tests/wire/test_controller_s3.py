"""DeleteVolume of S3 volumes in the controller: the real controller
(frontend in controller mode, no privd) purges exactly the volume's objects
from a real S3 server with the provisioner secret's credentials, reading
the prefix from the PersistentVolume (Kubernetes API stand-in). The purge
tests run against s3rver and against fauxqs, an S3 written independently
of it (tests/s3/fauxqs.sh)."""
import hashlib
import os
import subprocess
import sys
import tempfile

import grpc
import pytest

from driver import ROOT, Driver, csi_pb2

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_kube import FakeKube  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the driver")
BUCKET = "lcw-delete"


@pytest.fixture(scope="module", params=["s3rver", "fauxqs"])
def s3(request):
    script = os.path.join(ROOT, "tests", "s3", f"{request.param}.sh")
    d = tempfile.mkdtemp(prefix="lcw-s3del-")
    subprocess.run([script, "install"], check=True)
    # fauxqs takes any signature without being asked to
    lenient = ["--lenient"] if request.param == "s3rver" else []
    port = subprocess.run([script, "start", d, *lenient, BUCKET, "other-bucket"],
                          check=True, capture_output=True, text=True).stdout.strip()
    conf = os.path.join(d, "rclone.conf")
    with open(conf, "w") as f:
        f.write(f"[s3]\ntype = s3\nprovider = Other\naccess_key_id = S3RVER\n"
                f"secret_access_key = S3RVER\nendpoint = http://127.0.0.1:{port}\n"
                f"force_path_style = true\n")
    yield {"dir": d, "port": port, "conf": conf, "kind": request.param}
    subprocess.run([script, "stop", d])


def rclone(s3, *args, data=None):
    # rclone refuses AWS_CA_BUNDLE, which this machine sets: explicit env
    env = {"PATH": "/usr/bin:/bin", "HOME": s3["dir"]}
    return subprocess.run(["rclone", "--config", s3["conf"], *args], env=env, input=data,
                          capture_output=True, check=True).stdout.decode()


def put(s3, key):
    rclone(s3, "rcat", f"s3:{key}", data=b"ciphertext stand-in")


def keys(s3, bucket=BUCKET):
    return sorted(rclone(s3, "lsf", "-R", "--files-only", f"s3:{bucket}").split())


@pytest.fixture(scope="module")
def kube():
    k = FakeKube()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def ctrl(kube):
    d = tempfile.mkdtemp(prefix="lcw-ctl-")
    os.chmod(d, 0o755)
    c = Driver(controller=True, workdir=d, extra_args=kube.driver_args())
    yield c
    c.stop()


def secrets(s3, **over):
    s = {"s3-bucket": BUCKET, "s3-region": "us-east-1", "s3-access-key-id": "S3RVER",
         "s3-secret-access-key": "distinctive-secret-9d1f",
         "s3-endpoint": f"http://127.0.0.1:{s3['port']}", "s3-force-path-style": "true"}
    s.update(over)
    return s


def delete(ctrl, vol, sec):
    return ctrl.controller().DeleteVolume(csi_pb2.DeleteVolumeRequest(volume_id=vol, secrets=sec),
                                          timeout=60)


def test_delete_purges_exactly_the_volume(s3, kube, ctrl):
    for k in ("volumes/pvc-a/files/x", "volumes/pvc-a/files/d/y", "volumes/pvc-ab/files/x",
              "volumes/pvc-b/files/x", "pre/volumes/pvc-c/files/x", "volumes/pvc-c/files/keep"):
        put(s3, f"{BUCKET}/{k}")
    put(s3, "other-bucket/volumes/pvc-a/files/x")
    kube.set_pvs([("pv-a", "pvc-a"), ("pv-c", "pvc-c", {"s3-path-prefix": "pre"})])
    for _ in range(2):  # idempotent
        delete(ctrl, "pvc-a", secrets(s3))
    assert keys(s3) == ["pre/volumes/pvc-c/files/x", "volumes/pvc-ab/files/x",
                        "volumes/pvc-b/files/x", "volumes/pvc-c/files/keep"]
    # the prefix comes from the PV, not from anywhere else
    delete(ctrl, "pvc-c", secrets(s3))
    assert keys(s3) == ["volumes/pvc-ab/files/x", "volumes/pvc-b/files/x",
                        "volumes/pvc-c/files/keep"]
    assert keys(s3, "other-bucket") == ["volumes/pvc-a/files/x"]


def test_delete_errors_are_not_silent_success(s3, kube, ctrl):
    kube.set_pvs([("pv-b", "pvc-b")])
    cases = [
        (secrets(s3, **{"s3-bucket": "no-such-bucket"}), grpc.StatusCode.NOT_FOUND),
        (secrets(s3, **{"s3-endpoint": "http://127.0.0.1:1"}), grpc.StatusCode.UNAVAILABLE),
        ({k: v for k, v in secrets(s3).items() if k != "s3-region"},
         grpc.StatusCode.INVALID_ARGUMENT),
    ]
    if s3["kind"] == "s3rver":  # fauxqs refuses no access key id
        cases.append((secrets(s3, **{"s3-access-key-id": "WRONGKEY"}),
                      grpc.StatusCode.PERMISSION_DENIED))
    for sec, code in cases:
        with pytest.raises(grpc.RpcError) as e:
            delete(ctrl, "pvc-b", sec)
        assert e.value.code() == code, e.value.details()
        assert "distinctive-secret" not in e.value.details()
    assert "volumes/pvc-b/files/x" in keys(s3)
    # no PV with this handle: the prefix is unknown, nothing is deleted
    kube.set_pvs([])
    with pytest.raises(grpc.RpcError) as e:
        delete(ctrl, "pvc-b", secrets(s3))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "volumes/pvc-b/files/x" in keys(s3)
    assert "distinctive-secret" not in ctrl.output()


def test_delete_of_local_volume_is_a_noop(ctrl):
    delete(ctrl, "pvc-local", {})


# ---- S3 StorageClasses at CreateVolume, and NodeStage's checks that need no
# ---- privileges (run on the host; the full lifecycle is in tests/e2e)

S3_PARAMS = {"storage-backend": "s3", "s3-secret-name": "s3c", "s3-secret-namespace": "default"}
RWO_MOUNT = csi_pb2.VolumeCapability(
    mount=csi_pb2.VolumeCapability.MountVolume(),
    access_mode=csi_pb2.VolumeCapability.AccessMode(
        mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))


def create(ctrl, name, params):
    topo = csi_pb2.TopologyRequirement(preferred=[csi_pb2.Topology(
        segments={"topology.lukscryptwalker.csi.k8s.io/node": "node-a"})])
    return ctrl.controller().CreateVolume(csi_pb2.CreateVolumeRequest(
        name=name, volume_capabilities=[RWO_MOUNT], parameters=params,
        capacity_range=csi_pb2.CapacityRange(required_bytes=1 << 30),
        accessibility_requirements=topo), timeout=30)


def test_create_s3_volume_is_not_pinned_and_keeps_its_parameters(ctrl):
    params = dict(S3_PARAMS, **{"s3-path-prefix": "team/a", "rclone-vfs-cache-max-age": "1h30m",
                                "rclone-vfs-cache-max-size": "10Gi"})
    v = create(ctrl, "pvc-s3-create", params).volume
    assert v.volume_id == "pvc-s3-create"
    assert list(v.accessible_topology) == []  # reachable from every node
    ctx = dict(v.volume_context)
    assert ctx["capacity"] == str(1 << 30)
    for k, val in params.items():
        assert ctx[k] == val


@pytest.mark.parametrize("params", [{}, S3_PARAMS])
def test_create_refuses_local_path_provisioner_shaped_name(ctrl, params):
    # issue 10 item 7: such a name is a local-path-provisioner directory in
    # the shared root; the user learns it from CreateVolume, not at stage
    with pytest.raises(grpc.RpcError) as e:
        create(ctrl, "pvc-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f_default_data", params)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'_'" in e.value.details()


@pytest.mark.parametrize("key,value,word", [
    ("rclone-vfs-cache-max-age", "soon", "rclone-vfs-cache-max-age"),
    ("rclone-vfs-write-back", "1h30", "rclone-vfs-write-back"),
    ("rclone-vfs-cache-max-size", "10GB", "rclone-vfs-cache-max-size"),
    ("rclone-vfs-cache-mode", "everything", "rclone-vfs-cache-mode"),
    ("s3-path-prefix", "a/../b", "s3-path-prefix"),
    ("s3-secret-name", "", "s3-secret-name"),
])
def test_create_s3_volume_refuses_bad_parameters(ctrl, key, value, word):
    with pytest.raises(grpc.RpcError) as e:
        create(ctrl, "pvc-s3-bad", dict(S3_PARAMS, **{key: value}))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert word in e.value.details()


@pytest.fixture(scope="module")
def node():
    d = tempfile.mkdtemp(prefix="lcw-node-s3-")
    os.chmod(d, 0o755)
    kubelet = os.path.join(d, "kubelet")
    os.makedirs(kubelet)
    n = Driver(workdir=d, extra_args=[f"--kubelet-root={kubelet}"])
    n.kubelet = kubelet
    yield n
    n.stop()


def stage_s3(node, vol, staging, ctx, secrets):
    return node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=staging, volume_capability=RWO_MOUNT,
        volume_context=ctx, secrets=secrets), timeout=60)


def kubelet_staging(kubelet, vol):
    """kubelet's staging path shape (>= 1.24): the only one privd accepts."""
    h = hashlib.sha256(vol.encode()).hexdigest()
    return os.path.join(kubelet, "plugins/kubernetes.io/csi/lukscryptwalker.csi.k8s.io", h,
                        "globalmount")


@pytest.mark.parametrize("ctx,secrets,code,word", [
    (dict(S3_PARAMS, **{"rclone-attr-timeout": "forever"}), {"passphrase": "p"},
     grpc.StatusCode.INVALID_ARGUMENT, "rclone-attr-timeout"),
    ({"storage-backend": "s3", "s3-secret-namespace": "default"}, {"passphrase": "p"},
     grpc.StatusCode.INVALID_ARGUMENT, "s3-secret-name"),
    (S3_PARAMS, {}, grpc.StatusCode.INVALID_ARGUMENT, "passphrase"),
    (S3_PARAMS, {"passphrase": "\n"}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
])
def test_node_stage_s3_checks_its_request_first(node, ctx, secrets, code, word):
    staging = kubelet_staging(node.kubelet, "pvc-s3-n")
    with pytest.raises(grpc.RpcError) as e:
        stage_s3(node, "pvc-s3-n", staging, ctx, secrets)
    assert e.value.code() == code
    assert word in e.value.details()


def test_node_stage_s3_without_api_access_is_a_clear_precondition(node):
    """No Kubernetes API configured: privd cannot read the S3 Secret or the
    cache volume's Secret, and says so instead of mounting anything."""
    staging = kubelet_staging(node.kubelet, "pvc-s3-m")
    os.makedirs(os.path.dirname(staging), exist_ok=True)  # kubelet makes the parent
    with pytest.raises(grpc.RpcError) as e:
        stage_s3(node, "pvc-s3-m", staging, S3_PARAMS, {"passphrase": "p"})
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "Kubernetes API" in e.value.details()
    assert not any(staging in line for line in open("/proc/self/mountinfo"))
