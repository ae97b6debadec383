"""End to end with the Kubernetes API (a local stand-in replaying the real
API's shapes): the hardened passphrase mode, where privd reads the Secret
itself and the frontend never holds the passphrase; privd staging only
volumes that have a PersistentVolume, as the PV describes them; and the
reclaim of local volumes whose PersistentVolume is gone. As the
external-provisioner does, every volume gets its PV (volumeAttributes = the
volume context) before kubelet stages it."""
import os
import subprocess
import time

import grpc
import pytest

from fake_kube import FakeKube
from lcw_e2e import (Env, cleanup_env, csi_pb2, loops_of, mapping_exists, memory_contains,
                     mount_cap, rpc_error, sha256_file, volid, write_random)

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

MIB = 1 << 20
SECRET = b"hardened mode passphrase 7f3a9c"


@pytest.fixture(scope="module")
def kube():
    k = FakeKube()
    yield k
    k.stop()


@pytest.fixture(scope="module")
def env():
    e = Env()
    yield e
    cleanup_env(e)


def stage(node, env, vol, ctx, secrets=None):
    return node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), volume_capability=mount_cap(),
        secrets=secrets or {}, volume_context=ctx), timeout=600)


def unstage(node, env, vol):
    node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol)), timeout=120)


HARDENED_CTX = {"capacity": str(64 * MIB), "passphrase-secret-name": "vol-keys",
                "passphrase-secret-namespace": "secure-ns", "passphraseKey": "passphrase"}
# node-stage-secret mode: the class's csi.storage.k8s.io/node-stage-secret-*
STAGE_REF = {"name": "stage-pass", "namespace": "secure-ns"}


def with_pv(kube, vol, ctx, ref=None, name=None):
    """The PV the external-provisioner creates for vol (named after it)."""
    kube.add_pv(name or vol, vol, ctx, ref)
    return vol


def nothing_created(env, vol):
    return not os.path.exists(os.path.dirname(env.backing(vol))) and not mapping_exists(vol)


def test_hardened_mode_privd_reads_the_secret(kube, env):
    kube.set_secret("secure-ns", "vol-keys", {"passphrase": SECRET})
    node = env.node_driver(extra=kube.driver_args() + ["--reclaim-interval-seconds=0"])
    try:
        vol = with_pv(kube, volid(), HARDENED_CTX)
        # kubelet sends no node-stage secret for such a class
        stage(node, env, vol, HARDENED_CTX)
        st = env.staging(vol)
        digest = write_random(os.path.join(st, "h.bin"), MIB)
        unstage(node, env, vol)
        # it really is the API's value: the CLI opens it with those bytes
        subprocess.run(["cryptsetup", "open", "--test-passphrase", env.backing(vol)],
                       input=SECRET, check=True)
        stage(node, env, vol, HARDENED_CTX)
        assert sha256_file(os.path.join(st, "h.bin")) == digest
        # the passphrase never reached the frontend (the positive control
        # proves the memory scan reads the frontend's heap at all)
        assert memory_contains(node.frontend_pid(), node.sock.encode())
        assert not memory_contains(node.frontend_pid(), SECRET)
        assert SECRET.decode() not in node.output()
        assert any("/namespaces/secure-ns/secrets/vol-keys" in p for p in kube.requests)
        unstage(node, env, vol)

        ctx = dict(HARDENED_CTX, **{"passphrase-secret-namespace": "other-ns"})
        e = rpc_error(stage, node, env, with_pv(kube, volid(), ctx), ctx)
        assert e.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "forbidden" in e.details() and "other-ns" in e.details()
        ctx = dict(HARDENED_CTX, **{"passphrase-secret-name": "missing"})
        e = rpc_error(stage, node, env, with_pv(kube, volid(), ctx), ctx)
        assert e.code() == grpc.StatusCode.NOT_FOUND
        ctx = dict(HARDENED_CTX, passphraseKey="nokey")
        e = rpc_error(stage, node, env, with_pv(kube, volid(), ctx), ctx)
        assert e.code() == grpc.StatusCode.NOT_FOUND and "nokey" in e.details()
    finally:
        assert node.stop() == 0, node.output()


def test_only_volumes_with_a_pv_are_staged_as_their_pv_says(kube, env):
    """With the API configured, privd takes the passphrase Secret and the
    volume's parameters from the PV that carries the volume handle, and
    stages nothing that has no PV. Checked before anything is created."""
    kube.set_fail(None)
    kube.set_secret("secure-ns", "vol-keys", {"passphrase": SECRET})
    kube.set_secret("secure-ns", "other-keys", {"passphrase": b"the other volume's key"})
    node = env.node_driver(extra=kube.driver_args() + ["--reclaim-interval-seconds=0"])
    try:
        # no PV at all: refused, no backing file, no Secret read
        vol = volid()
        n = len(kube.requests)
        e = rpc_error(stage, node, env, vol, HARDENED_CTX)
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.details()
        assert "PersistentVolume" in e.details() and vol in e.details()
        assert nothing_created(env, vol)
        assert not any("/secrets/" in p for p in kube.requests[n:])
        # the same in node-stage-secret mode
        vol = volid()
        e = rpc_error(stage, node, env, vol, {"capacity": str(64 * MIB)}, {"passphrase": "x"})
        assert e.code() == grpc.StatusCode.NOT_FOUND, e.details()
        assert nothing_created(env, vol)

        # the request names another Secret than the PV: refused unread
        vol = with_pv(kube, volid(), HARDENED_CTX)
        ctx = dict(HARDENED_CTX, **{"passphrase-secret-name": "other-keys"})
        n = len(kube.requests)
        e = rpc_error(stage, node, env, vol, ctx)
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
        assert "secure-ns/vol-keys" in e.details()
        assert not any("/secrets/" in p for p in kube.requests[n:])
        assert nothing_created(env, vol)
        # a passphrase of the caller's choosing for a hardened volume
        e = rpc_error(stage, node, env, vol, {"capacity": str(64 * MIB)}, {"passphrase": "mine"})
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
        assert nothing_created(env, vol)

        # node-stage-secret mode needs a PV that names the node-stage Secret
        plain = {"capacity": str(64 * MIB)}
        vol = with_pv(kube, volid(), plain)
        e = rpc_error(stage, node, env, vol, plain, {"passphrase": "node stage"})
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e.details()
        assert "nodeStageSecretRef" in e.details()
        assert nothing_created(env, vol)
        # and the backing file gets the PV's size, not the request's
        vol = with_pv(kube, volid(), {"capacity": str(80 * MIB)}, STAGE_REF, name="static-pv-1")
        stage(node, env, vol, plain, {"passphrase": "node stage"})
        assert os.path.getsize(env.backing(vol)) == 80 * MIB
        unstage(node, env, vol)
        ops = [(r["op"], r["result"]) for r in node.audit_records() if r.get("volume_id") == vol]
        assert ("pv_check", "ok") in ops, ops
    finally:
        assert node.stop() == 0, node.output()


def test_hardened_mode_without_api_access_is_a_clear_error(env):
    node = env.node_driver(extra=["--reclaim-interval-seconds=0"])
    try:
        e = rpc_error(stage, node, env, volid(), HARDENED_CTX)
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "Kubernetes API" in e.details()
    finally:
        node.stop()


def wait_for(pred, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.5)
    return pred()


def test_reclaim_erases_only_volumes_whose_pv_is_gone(kube, env):
    kube.set_fail(None)
    pass_ctx = {"capacity": str(64 * MIB)}
    secrets = {"passphrase": "reclaim test"}
    static_vol, gone_vol, staged_vol = volid(), volid(), volid()
    # make three volumes with the reclaimer off; each has its PV while staged
    kube.set_pvs([(v, v, pass_ctx, STAGE_REF) for v in (static_vol, gone_vol, staged_vol)])
    node = env.node_driver(extra=kube.driver_args() + ["--reclaim-interval-seconds=0"])
    for v in (static_vol, gone_vol, staged_vol):
        stage(node, env, v, pass_ctx, secrets)
    unstage(node, env, static_vol)
    unstage(node, env, gone_vol)
    node.stop()
    # a static PV whose name is not its handle, and no PV for the others
    kube.set_pvs([("my-static-pv", static_vol, pass_ctx, STAGE_REF)])
    node = env.node_driver(extra=kube.driver_args() + [
        "--reclaim-interval-seconds=1", "--reclaim-grace-seconds=5"])
    try:
        # the file goes first, then its directory: wait for both
        gone_dir = os.path.dirname(env.backing(gone_vol))
        assert wait_for(lambda: not os.path.exists(gone_dir), 40), node.output()
        ops = [(r["op"], r["volume_id"]) for r in node.audit_records()]
        assert ("luks_erase", gone_vol) in ops
        time.sleep(3)
        assert os.path.exists(env.backing(static_vol)), "a static PV's volume was erased"
        assert os.path.exists(env.backing(staged_vol)), "a staged volume was erased"
        assert mapping_exists(staged_vol)
        subprocess.run(["cryptsetup", "isLuks", env.backing(static_vol)], check=True)
    finally:
        node.stop()
    unstage_node = env.node_driver(extra=["--reclaim-interval-seconds=0"])
    unstage(unstage_node, env, staged_vol)
    unstage_node.stop()
    assert loops_of(env.backing(staged_vol)) == []


def test_reclaim_does_nothing_while_the_api_fails(kube, env):
    vol = volid()
    node = env.node_driver(extra=["--reclaim-interval-seconds=0"])
    stage(node, env, vol, {"capacity": str(64 * MIB)}, {"passphrase": "api fails"})
    unstage(node, env, vol)
    node.stop()
    kube.set_pvs([])
    kube.set_fail(500)
    node = env.node_driver(extra=kube.driver_args() + [
        "--reclaim-interval-seconds=1", "--reclaim-grace-seconds=5"])
    try:
        time.sleep(12)  # more than two grace periods of failed listings
        assert os.path.exists(env.backing(vol))
        assert "API errors" in node.output() or "api" in node.output().lower()
        # the API recovers and answers a definite "not found": now it goes
        kube.set_fail(None)
        assert wait_for(lambda: not os.path.exists(env.backing(vol)), 40), node.output()
    finally:
        kube.set_fail(None)
        node.stop()
