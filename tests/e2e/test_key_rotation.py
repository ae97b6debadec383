"""End to end on real dm-crypt: passphrase rotation (issue 14). The operator
writes the new passphrase to the Secret's passphraseKey and keeps the old
one under "<passphraseKey>-previous"; a volume still on the old one is
re-keyed at NodeStage before it is mounted, crash-safe at every step of the
keyslot swap. Runs where device-mapper exists (the VM harness)."""
import json
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest

from fake_kube import FakeKube
from lcw_e2e import (FAST_KDF, NODE, Driver, Env, cleanup_env, csi_pb2, loops_of, mapping_exists,
                     mount_cap, mount_of, rpc_code, rpc_error, sha256_file, volid,
                     write_random)

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

MIB = 1 << 20
OLD = "the old passphrase 41d2"
NEW = "the new passphrase 93be"
TOKEN = "lukscryptwalker-rotation"


@pytest.fixture(scope="module")
def env():
    e = Env(tag="e2e-rot")
    yield e
    cleanup_env(e)


class Node:
    """The node driver, restartable with another environment."""

    def __init__(self, env, extra_env=None, extra=()):
        self.env, self.extra = env, list(extra)
        self.d = self._start(extra_env)

    def _start(self, extra_env):
        return Driver(extra_args=[f"--kubelet-root={self.env.kubelet}", *FAST_KDF, *self.extra],
                      nodeid=NODE, workdir=self.env.run,
                      extra_env={"CSI_LOCAL_PATH": self.env.local, **(extra_env or {})})

    def restart(self, extra_env=None, sig=signal.SIGKILL):
        try:
            self.d.stop(sig=sig)
        except Exception:
            pass
        self.d = self._start(extra_env)

    def __getattr__(self, name):
        return getattr(self.d, name)


@pytest.fixture(scope="module")
def node(env):
    n = Node(env)
    yield n
    n.d.stop()


def ctx(size=64 * MIB):
    return {"capacity": str(size)}


def stage(node, env, vol, secrets, c=None, timeout=600):
    return node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol), volume_capability=mount_cap(),
        secrets=secrets, volume_context=c or ctx()), timeout=timeout)


def unstage(node, env, vol):
    node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
        volume_id=vol, staging_target_path=env.staging(vol)), timeout=120)


def opens_with(backing, secret: bytes):
    """Does this exact byte string open a keyslot (CLI, whole key file)?"""
    return subprocess.run(["cryptsetup", "open", "--test-passphrase", "--key-file=-", backing],
                          input=secret, capture_output=True).returncode == 0


def rotation_token(backing):
    """The rotation token, read the way README tells operators to."""
    out = subprocess.run(["cryptsetup", "luksDump", "--dump-json-metadata", backing],
                         capture_output=True, text=True, check=True).stdout
    toks = [t for t in json.loads(out)["tokens"].values() if t["type"] == TOKEN]
    return toks[0] if toks else None


def audit_ops(node, vol):
    return [r for r in node.audit_records() if r.get("volume_id") == vol]


def test_stage_rekeys_a_volume_on_the_previous_passphrase(node, env):
    vol = volid()
    stage(node, env, vol, {"passphrase": OLD})
    digest = write_random(os.path.join(env.staging(vol), "data.bin"), 2 * MIB)
    unstage(node, env, vol)
    f = env.backing(vol)
    assert opens_with(f, OLD.encode()) and rotation_token(f) is None

    # The operator rotates: new value under passphrase, old under -previous.
    stage(node, env, vol, {"passphrase": NEW, "passphrase-previous": OLD})
    assert sha256_file(os.path.join(env.staging(vol), "data.bin")) == digest
    unstage(node, env, vol)
    assert not opens_with(f, OLD.encode()), "the old passphrase still opens the volume"
    assert opens_with(f, NEW.encode())
    tok = rotation_token(f)
    assert tok is not None and tok["rotated_at"].endswith("Z")
    recs = [r for r in audit_ops(node, vol) if r["op"] == "luks_rekey_at_stage"]
    assert len(recs) == 1 and recs[0]["result"] == "ok", recs
    assert OLD not in json.dumps(node.audit_records()) and NEW not in node.output()

    # Now it refuses the old one, and a stage with both changes nothing more.
    e = rpc_error(stage, node, env, vol, {"passphrase": OLD})
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED
    assert mount_of(env.staging(vol)) is None
    stage(node, env, vol, {"passphrase": NEW, "passphrase-previous": OLD})
    unstage(node, env, vol)
    assert rotation_token(f) == tok
    assert len([r for r in audit_ops(node, vol) if r["op"] == "luks_rekey_at_stage"]) == 1


def test_neither_passphrase_opens_changes_nothing(node, env):
    vol = volid()
    stage(node, env, vol, {"passphrase": OLD})
    unstage(node, env, vol)
    f = env.backing(vol)
    header = sha256_file(f, 16 * MIB)
    e = rpc_error(stage, node, env, vol, {"passphrase": "x1", "passphrase-previous": "x2"})
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED
    assert sha256_file(f, 16 * MIB) == header
    assert not mapping_exists(vol) and loops_of(f) == []


def test_go_driver_volume_rotates(node, env):
    """The Go driver piped the secret to cryptsetup, which kept only its
    first line; the rotated volume must open the same way, with the new
    Secret's first line."""
    vol = volid()
    old, new = "go first line\nrest is ignored", "rotated first line\nalso ignored"
    f = env.backing(vol)
    os.makedirs(os.path.dirname(f))
    subprocess.run(["fallocate", "-l", str(64 * MIB), f], check=True)
    subprocess.run(["cryptsetup", "luksFormat", "--batch-mode", "--pbkdf-memory=16384", f],
                   input=old.encode(), check=True)
    subprocess.run(["cryptsetup", "open", f, f"cli-{vol}"], input=b"go first line\n", check=True)
    subprocess.run(["mkfs.ext4", "-q", f"/dev/mapper/cli-{vol}"], check=True)
    subprocess.run(["cryptsetup", "close", f"cli-{vol}"], check=True)

    stage(node, env, vol, {"passphrase": new, "passphrase-previous": old})
    digest = write_random(os.path.join(env.staging(vol), "go.bin"), MIB)
    unstage(node, env, vol)
    assert opens_with(f, b"rotated first line")
    assert not opens_with(f, b"go first line")
    # the Go driver itself (stdin, first line) would open it with the new Secret
    subprocess.run(["cryptsetup", "open", "--test-passphrase", f], input=new.encode(),
                   check=True)
    stage(node, env, vol, {"passphrase": new})
    assert sha256_file(os.path.join(env.staging(vol), "go.bin")) == digest
    unstage(node, env, vol)


def wait_for(pred, timeout=300):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def own_env():
    """A node of its own (socket, audit log): the module's node keeps running."""
    e = Env(tag="e2e-rot")
    yield e
    cleanup_env(e)


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_privd_killed_at_each_step_of_the_swap(own_env, step):
    """privd stops after step N of the swap (LCW_TEST_REKEY_PAUSE) and is
    SIGKILLed there: the volume opens with one of the two passphrases, and
    a retried stage completes the rotation."""
    env = own_env
    n = Node(env, extra_env={"LCW_TEST_REKEY_PAUSE": str(step)})
    try:
        vol = volid()
        stage(n, env, vol, {"passphrase": OLD})
        digest = write_random(os.path.join(env.staging(vol), "c.bin"), MIB)
        unstage(n, env, vol)
        f = env.backing(vol)
        result = {}
        th = threading.Thread(target=lambda: result.setdefault("code", rpc_code(
            stage, n, env, vol, {"passphrase": NEW, "passphrase-previous": OLD})))
        th.start()
        assert wait_for(lambda: any(r["op"] == "rekey_test_pause" for r in audit_ops(n, vol))), \
            n.output()
        n.restart()  # SIGKILL privd where it paused; the new one does not pause
        th.join(120)
        o, w = opens_with(f, OLD.encode()), opens_with(f, NEW.encode())
        assert o or w, "the volume opens with neither passphrase"
        assert w and o == (step < 4), (step, o, w)
        stage(n, env, vol, {"passphrase": NEW, "passphrase-previous": OLD})
        assert sha256_file(os.path.join(env.staging(vol), "c.bin")) == digest
        unstage(n, env, vol)
        assert not opens_with(f, OLD.encode()) and opens_with(f, NEW.encode())
        assert rotation_token(f) is not None
    finally:
        n.d.stop(sig=signal.SIGKILL)


def test_hardened_mode_reads_both_passphrases(own_env):
    env = own_env
    kube = FakeKube()
    try:
        c = {"capacity": str(64 * MIB), "passphrase-secret-name": "rot-keys",
             "passphrase-secret-namespace": "secure-ns", "passphraseKey": "luksKey"}
        kube.set_secret("secure-ns", "rot-keys", {"luksKey": OLD.encode()})
        n = Node(env, extra=kube.driver_args() + ["--reclaim-interval-seconds=0"])
        try:
            vol = volid()
            kube.add_pv(vol, vol, c, None)
            stage(n, env, vol, {}, c)
            unstage(n, env, vol)
            kube.set_secret("secure-ns", "rot-keys", {"luksKey": NEW.encode(),
                                                     "luksKey-previous": OLD.encode()})
            stage(n, env, vol, {}, c)
            unstage(n, env, vol)
            f = env.backing(vol)
            assert opens_with(f, NEW.encode()) and not opens_with(f, OLD.encode())
            assert any(r["op"] == "luks_rekey_at_stage" and r["result"] == "ok"
                       for r in audit_ops(n, vol))
        finally:
            n.d.stop()
    finally:
        kube.stop()


# ---- csi-addons over the node plugin's socket --------------------------------

def addons(node):
    """Stubs generated from the project's proto/csiaddons/*.proto."""
    from csiaddons import (encryptionkeyrotation_pb2, encryptionkeyrotation_pb2_grpc,
                           identity_pb2, identity_pb2_grpc)
    ch = node.connect()
    return (identity_pb2, identity_pb2_grpc.IdentityStub(ch), encryptionkeyrotation_pb2,
            encryptionkeyrotation_pb2_grpc.EncryptionKeyRotationControllerStub(ch))


def rotate(node, vol, secrets=None, params=None, path=""):
    _, _, ekr, stub = addons(node)
    return stub.EncryptionKeyRotate(ekr.EncryptionKeyRotateRequest(
        volume_id=vol, volume_path=path, secrets=secrets or {}, parameters=params or {}),
        timeout=600)


def test_csiaddons_identity_answers_on_the_node_socket(node):
    ident, stub, _, _ = addons(node)
    r = stub.GetIdentity(ident.GetIdentityRequest(), timeout=30)
    assert r.name == "lukscryptwalker.csi.k8s.io" and r.vendor_version
    caps = stub.GetCapabilities(ident.GetCapabilitiesRequest(), timeout=30).capabilities
    kinds = {c.WhichOneof("type"): c for c in caps}
    assert kinds["service"].service.type == ident.Capability.Service.NODE_SERVICE
    assert (kinds["encryption_key_rotation"].encryption_key_rotation.type ==
            ident.Capability.EncryptionKeyRotation.ENCRYPTIONKEYROTATION)
    assert kinds["reclaim_space"].reclaim_space.type == ident.Capability.ReclaimSpace.ONLINE
    assert stub.Probe(ident.ProbeRequest(), timeout=30).ready.value is True


def test_rotate_refuses_what_it_cannot_rotate(node, env):
    e = rpc_error(rotate, node, "e2e-none", {"passphrase": NEW, "passphrase-previous": OLD})
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "not staged" in e.details()
    e = rpc_error(rotate, node, "e2e-s3", {"passphrase": NEW},
                  {"storage-backend": "s3", "s3-secret-name": "s", "s3-secret-namespace": "n"})
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and "re-encrypting" in e.details()
    e = rpc_error(rotate, node, "", {"passphrase": NEW})
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT


class Writer(threading.Thread):
    """Keeps rewriting a ring of 32 files (each fsync'ed, 8 MiB in all, so
    the volume never fills) and remembers their latest digests."""

    def __init__(self, d):
        super().__init__()
        self.d, self.sums, self.stop_, self.writes = d, {}, threading.Event(), 0

    def run(self):
        self.error = None
        try:
            while not self.stop_.is_set():
                p = os.path.join(self.d, f"w{self.writes % 32:02d}.bin")
                self.sums[p] = write_random(p, 256 * 1024)
                self.writes += 1
        except OSError as e:
            self.error = e

    def check(self):
        bad = [p for p, h in self.sums.items() if sha256_file(p) != h]
        assert not bad, f"{len(bad)} files changed"


def test_rotate_a_mounted_volume_while_a_writer_writes(node, env):
    vol = volid()
    stage(node, env, vol, {"passphrase": OLD})
    st = env.staging(vol)
    w = Writer(st)
    w.start()
    time.sleep(2)
    before = w.writes
    rotate(node, vol, {"passphrase": NEW, "passphrase-previous": OLD}, path=st)
    during = w.writes - before
    time.sleep(2)
    w.stop_.set()
    w.join(60)
    assert w.is_alive() is False and w.error is None, w.error
    assert during >= 2, f"only {during} writes while the keyslots were swapped"
    w.check()
    f = env.backing(vol)
    assert mount_of(st) is not None, "rotation unmounted the volume"
    assert opens_with(f, NEW.encode()) and not opens_with(f, OLD.encode())
    assert rotation_token(f) is not None
    recs = [r for r in audit_ops(node, vol) if r["op"] == "luks_rekey_online"]
    assert len(recs) == 1 and recs[0]["result"] == "ok", recs
    # a periodic job after the rotation: nothing left to do, still OK
    rotate(node, vol, {"passphrase": NEW, "passphrase-previous": OLD})
    rotate(node, vol, {"passphrase": NEW})
    e = rpc_error(rotate, node, vol, {"passphrase": "not it"})
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED
    unstage(node, env, vol)
    stage(node, env, vol, {"passphrase": NEW})
    w.check()
    unstage(node, env, vol)


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_privd_killed_during_an_online_rotation(own_env, step):
    env = own_env
    n = Node(env, extra_env={"LCW_TEST_REKEY_PAUSE": str(step)})
    try:
        vol = volid()
        stage(n, env, vol, {"passphrase": OLD})
        digest = write_random(os.path.join(env.staging(vol), "o.bin"), MIB)
        th = threading.Thread(target=lambda: rpc_code(
            rotate, n, vol, {"passphrase": NEW, "passphrase-previous": OLD}))
        th.start()
        assert wait_for(lambda: any(r["op"] == "rekey_test_pause" for r in audit_ops(n, vol))), \
            n.output()
        n.restart()
        th.join(120)
        f = env.backing(vol)
        o, w = opens_with(f, OLD.encode()), opens_with(f, NEW.encode())
        assert w and o == (step < 4), (step, o, w)
        assert sha256_file(os.path.join(env.staging(vol), "o.bin")) == digest
        rotate(n, vol, {"passphrase": NEW, "passphrase-previous": OLD})
        assert not opens_with(f, OLD.encode()) and opens_with(f, NEW.encode())
        unstage(n, env, vol)
        stage(n, env, vol, {"passphrase": NEW})
        assert sha256_file(os.path.join(env.staging(vol), "o.bin")) == digest
        unstage(n, env, vol)
    finally:
        n.d.stop(sig=signal.SIGKILL)
