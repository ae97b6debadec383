"""Wire tests of the csi-addons services (issue 14) on the real two-process
driver's socket, with stubs generated from proto/csiaddons: Identity
answers; EncryptionKeyRotate and NodeReclaimSpace reach privd and refuse
what they cannot do (no device-mapper is needed for these answers); the
controller plugin does not serve them."""
import os

import grpc
import pytest

from driver import Driver

from csiaddons import (encryptionkeyrotation_pb2 as ekr, encryptionkeyrotation_pb2_grpc as ekr_grpc,
                       identity_pb2 as ident, identity_pb2_grpc as ident_grpc,
                       reclaimspace_pb2 as rs, reclaimspace_pb2_grpc as rs_grpc)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start privd")


@pytest.fixture(scope="module")
def drv():
    d = Driver()
    yield d
    assert d.stop() == 0, d.output()


def code(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def test_identity(drv):
    stub = ident_grpc.IdentityStub(drv.connect())
    r = stub.GetIdentity(ident.GetIdentityRequest(), timeout=10)
    assert r.name == "lukscryptwalker.csi.k8s.io" and r.vendor_version
    kinds = {c.WhichOneof("type") for c in
             stub.GetCapabilities(ident.GetCapabilitiesRequest(), timeout=10).capabilities}
    assert kinds == {"service", "reclaim_space", "encryption_key_rotation"}
    assert stub.Probe(ident.ProbeRequest(), timeout=10).ready.value


def test_encryption_key_rotate_refusals(drv):
    stub = ekr_grpc.EncryptionKeyRotationControllerStub(drv.connect())
    rq = ekr.EncryptionKeyRotateRequest
    assert code(stub.EncryptionKeyRotate, rq(volume_id=""), timeout=10)[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    c, msg = code(stub.EncryptionKeyRotate, rq(volume_id="pvc-1", encryption_key="k"), timeout=10)
    assert c == grpc.StatusCode.INVALID_ARGUMENT and "Secret" in msg
    c, msg = code(stub.EncryptionKeyRotate, rq(volume_id="pvc-1", parameters={
        "storage-backend": "s3"}), timeout=10)
    assert c == grpc.StatusCode.FAILED_PRECONDITION and "re-encrypting" in msg
    c, msg = code(stub.EncryptionKeyRotate, rq(volume_id="pvc-1", secrets={
        "passphrase": "new", "passphrase-previous": "old"}), timeout=30)
    # not staged here (without device-mapper privd cannot even look)
    assert c == grpc.StatusCode.FAILED_PRECONDITION, msg
    c, msg = code(stub.EncryptionKeyRotate, rq(volume_id="pvc-1", parameters={
        "passphraseKey": "bad key!"}), timeout=10)
    assert c == grpc.StatusCode.INVALID_ARGUMENT


def test_node_reclaim_space_refusals(drv):
    stub = rs_grpc.ReclaimSpaceNodeStub(drv.connect())
    rq = rs.NodeReclaimSpaceRequest
    assert code(stub.NodeReclaimSpace, rq(volume_id="pvc-1", volume_path=""), timeout=10)[0] == \
        grpc.StatusCode.INVALID_ARGUMENT
    # not one of kubelet's shapes: privd refuses before opening anything
    c, _ = code(stub.NodeReclaimSpace, rq(volume_id="pvc-1", volume_path="/etc"), timeout=10)
    assert c == grpc.StatusCode.INVALID_ARGUMENT
    ctrl = rs_grpc.ReclaimSpaceControllerStub(drv.connect())
    c, _ = code(ctrl.ControllerReclaimSpace, rs.ControllerReclaimSpaceRequest(volume_id="pvc-1"),
                timeout=10)
    assert c == grpc.StatusCode.UNIMPLEMENTED


def test_controller_plugin_does_not_serve_them():
    d = Driver(controller=True)
    try:
        stub = ident_grpc.IdentityStub(d.connect())
        assert code(stub.GetIdentity, ident.GetIdentityRequest(), timeout=10)[0] == \
            grpc.StatusCode.UNIMPLEMENTED
    finally:
        d.stop()
