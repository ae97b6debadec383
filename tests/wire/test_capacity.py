"""Storage capacity (issue 11): GetCapacity, CreateVolume's room check and
NodeGetInfo's volume limit, over the real socket.

The node plugin (real privd) measures its own local root, a tmpfs of a known
size here, and publishes the number in its Lease when an API is configured;
the controller (no privd) answers for any node from that node's Lease (the
Kubernetes API stand-in serves and stores Leases as the API does)."""
import os
import subprocess
import sys
import tempfile
import time

import grpc
import pytest

from driver import ROOT, Driver, csi_pb2

sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from fake_kube import FakeKube  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the driver")

MIB = 1 << 20
TOPO = "topology.lukscryptwalker.csi.k8s.io/node"
NS = "lcw-system"
INT64_MAX = (1 << 63) - 1
GET_CAPACITY = csi_pb2.ControllerServiceCapability.RPC.GET_CAPACITY


def cap_mount(fs="ext4"):
    return csi_pb2.VolumeCapability(
        mount=csi_pb2.VolumeCapability.MountVolume(fs_type=fs),
        access_mode=csi_pb2.VolumeCapability.AccessMode(
            mode=csi_pb2.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))


def get_capacity(d, node=None, params=None, fs="ext4"):
    req = csi_pb2.GetCapacityRequest(volume_capabilities=[cap_mount(fs)], parameters=params or {})
    if node:
        req.accessible_topology.CopyFrom(csi_pb2.Topology(segments={TOPO: node}))
    return d.controller().GetCapacity(req, timeout=20)


def create(d, name, size, node):
    return d.controller().CreateVolume(csi_pb2.CreateVolumeRequest(
        name=name, capacity_range=csi_pb2.CapacityRange(required_bytes=size),
        volume_capabilities=[cap_mount()],
        accessibility_requirements=csi_pb2.TopologyRequirement(
            preferred=[csi_pb2.Topology(segments={TOPO: node})])), timeout=20)


def caps(d):
    r = d.controller().ControllerGetCapabilities(csi_pb2.ControllerGetCapabilitiesRequest(),
                                                  timeout=10)
    return {c.rpc.type for c in r.capabilities}


@pytest.fixture(scope="module")
def kube():
    k = FakeKube()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def node(kube):
    """A node plugin whose local root is a 256 MiB tmpfs, publishing its
    capacity to the stand-in API."""
    d = tempfile.mkdtemp(prefix="lcw-cap-")
    os.chmod(d, 0o755)
    root = os.path.join(d, "local")
    os.makedirs(root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m,nosuid,nodev", "lcw-cap", root],
                   check=True)
    drv = Driver(nodeid="node-a", workdir=d, extra_env={"CSI_LOCAL_PATH": root},
                 extra_args=[*kube.driver_args(), f"--capacity-namespace={NS}",
                             "--max-local-volumes=5", "--max-s3-mounts=7"])
    drv.local_root = root
    yield drv
    drv.stop()
    subprocess.run(["umount", root])


def expected_room(root):
    st = os.statvfs(root)
    return st.f_bavail * st.f_frsize - (256 * MIB) // 100 * 10  # less the 10% reserve


def test_node_plugin_measures_its_local_root(node):
    assert GET_CAPACITY in caps(node)
    r = get_capacity(node)
    want = expected_room(node.local_root)
    assert r.available_capacity == want
    assert r.maximum_volume_size.value == want
    assert r.minimum_volume_size.value == 32 * MIB  # LUKS2 header + the smallest ext4
    assert get_capacity(node, fs="xfs").minimum_volume_size.value == 320 * MIB
    # its own topology segment is the same; another node's is not known here
    assert get_capacity(node, "node-a").available_capacity == want
    assert get_capacity(node, "node-b").available_capacity == 0


def test_s3_capacity_is_unbounded(node):
    r = get_capacity(node, params={"storage-backend": "s3"})
    assert r.available_capacity == INT64_MAX
    assert r.maximum_volume_size.value == 64 << 40


def test_create_volume_refuses_what_the_node_cannot_hold(node):
    want = expected_room(node.local_root)
    with pytest.raises(grpc.RpcError) as e:
        create(node, "pvc-cap-too-big", want + MIB, "node-a")
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "node-a" in e.value.details()
    v = create(node, "pvc-cap-fits", 64 * MIB, "node-a").volume
    assert v.capacity_bytes == 64 * MIB


def test_node_info_reports_the_volume_limit(node):
    info = node.node().NodeGetInfo(csi_pb2.NodeGetInfoRequest(), timeout=10)
    assert info.max_volumes_per_node == 5 + 7


def test_privd_publishes_its_capacity_lease(node, kube):
    end = time.time() + 20
    lease = None
    while time.time() < end and lease is None:
        lease = kube.lease(NS, "node-a")
        time.sleep(0.2)
    assert lease is not None, "privd published no Lease"
    ann = lease["metadata"]["annotations"]
    want = expected_room(node.local_root)
    assert int(ann["capacity.lukscryptwalker.io/available-bytes"]) == want
    assert int(ann["capacity.lukscryptwalker.io/volumes-left"]) == 5
    assert lease["spec"]["holderIdentity"] == "node-a"


@pytest.fixture(scope="module")
def ctrl(kube):
    d = tempfile.mkdtemp(prefix="lcw-capctl-")
    os.chmod(d, 0o755)
    c = Driver(controller=True, workdir=d,
               extra_args=[*kube.driver_args(), f"--capacity-namespace={NS}"])
    yield c
    c.stop()


def test_controller_answers_from_the_nodes_lease(ctrl, kube):
    assert GET_CAPACITY in caps(ctrl)
    kube.set_lease(NS, "node-x", 10 << 30, 8 << 30, 3)
    r = get_capacity(ctrl, "node-x")
    assert r.available_capacity == 10 << 30 and r.maximum_volume_size.value == 8 << 30
    # a node whose privd stopped publishing has no room known
    kube.set_lease(NS, "node-y", 10 << 30, 8 << 30, 3, age_s=600)
    assert get_capacity(ctrl, "node-y").available_capacity == 0
    assert get_capacity(ctrl, "node-z").available_capacity == 0  # no Lease at all
    # room for a file system smaller than the smallest volume is no room
    kube.set_lease(NS, "node-w", 20 * MIB, 20 * MIB, 3)
    assert get_capacity(ctrl, "node-w").available_capacity == 0


def test_controller_create_volume_checks_the_chosen_node(ctrl, kube):
    kube.set_lease(NS, "node-x", 10 << 30, 8 << 30, 3)
    with pytest.raises(grpc.RpcError) as e:
        create(ctrl, "pvc-cap-ctl-big", 9 << 30, "node-x")
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert create(ctrl, "pvc-cap-ctl-ok", 1 << 30, "node-x").volume.capacity_bytes == 1 << 30
    kube.set_lease(NS, "node-full", 10 << 30, 8 << 30, 0)  # count limit reached
    with pytest.raises(grpc.RpcError) as e:
        create(ctrl, "pvc-cap-ctl-count", 1 << 30, "node-full")
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_controller_without_a_lease_namespace_does_not_offer_capacity(kube):
    d = tempfile.mkdtemp(prefix="lcw-capctl2-")
    os.chmod(d, 0o755)
    c = Driver(controller=True, workdir=d, extra_args=kube.driver_args())
    try:
        assert GET_CAPACITY not in caps(c)
    finally:
        c.stop()
