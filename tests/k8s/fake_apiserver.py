#!/usr/bin/python3
"""A replaying fake of the Kubernetes API server for tests/k8s.

Serves, over HTTPS on 127.0.0.1, the response shapes of the real v1 API
(Secret, PersistentVolumeList with limit/continue pagination, v1 Status
errors) plus misbehaviours (hang, truncated body, oversized body, invalid
JSON, redirect). A second listener presents a certificate from another CA.

Every request is appended to a JSON-lines log (server, path, query, auth
verdict, accept header); the token itself is never written there.

PersistentVolume scenarios are selected by a path prefix in the client's
API base: https://127.0.0.1:PORT/s/<scenario>/api/v1/persistentvolumes.

Events and claims, as the node's RBAC would have them (create on events,
get on persistentvolumeclaims; the namespace "forbidden" stands for RBAC
saying no): POST /api/v1/namespaces/<ns>/events answers 201 with the
created Event (uid, resourceVersion, creationTimestamp added), after the
API server's own checks (metadata.namespace and involvedObject.namespace
match the path, name, reason, type Normal/Warning, involvedObject kind
and name); GET .../persistentvolumeclaims/<name> serves PVCs from PVCS.
The body of every POST is logged.
"""
import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DRIVER = "lukscryptwalker.csi.k8s.io"
SA_USER = "system:serviceaccount:kube-system:lukscryptwalker-node"
CONT2 = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDcxMSwic3RhcnQiOiJwdmMtYmJiLyJ9+/="
CONT3 = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDcxMSwic3RhcnQiOiJwdmMtY2NjLyJ9"
EXPIRED_MSG = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, modified, "
    "or deleted between the time the first chunk was returned and now may show up in the list."
)

ARGS = None
LOG_LOCK = threading.Lock()


def b64(raw):
    return base64.b64encode(raw).decode()


# Secret values the C test decodes and compares byte for byte.
SECRET_DATA = {
    "passphrase": b"correct horse battery staple",
    "withnl": b"line1\nline2\n",
    "binary": bytes(range(256)) + b"\x00\xff\n\r\x00",
    "empty": b"",
    "max": bytes((i * 7 + 3) % 256 for i in range(4096)),
    "toolarge": bytes(4097),
}


# A whole Secret read in one request (k8s_get_secret_values), e.g. the S3
# credentials. Served with sorted keys, as the API server's encoder does.
SECRET_MULTI = {
    "binary": b"\x00\n\x00" + bytes(range(256)) + b"\r\n\x00",
    "empty": b"",
    "max": bytes((i * 11 + 5) % 256 for i in range(4096)),
    "s3-access-key-id": b"AKIAIOSFODNN7EXAMPLE",
    "s3-bucket": b"backups",
    "s3-endpoint": b"https://s3.example.test:9000",
    "s3-force-path-style": b"true",
    "s3-region": b"eu-central-1",
    "s3-secret-access-key": b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
}


def sorted_b64(data, **raw):
    """base64 of every value in data, plus raw (already encoded) entries."""
    out = {k: b64(v) for k, v in data.items()}
    out.update(raw)
    return dict(sorted(out.items()))


def status(code, reason, message, details=None):
    obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code}
    if details is not None:
        obj["details"] = details
    return code, obj


def secret_obj(name, ns, data, extra_meta=None):
    meta = {
        "name": name, "namespace": ns, "uid": "0f6c1c1e-7b2b-4d6e-9a55-3c1d2f8e9a10",
        "resourceVersion": "4711", "creationTimestamp": "2024-05-01T10:00:00Z",
        "managedFields": [{"manager": "kubectl-create", "operation": "Update",
                           "apiVersion": "v1", "time": "2024-05-01T10:00:00Z",
                           "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:data": {".": {}, "f:passphrase": {}}, "f:type": {}}}],
    }
    meta.update(extra_meta or {})
    obj = {"kind": "Secret", "apiVersion": "v1", "metadata": meta}
    if data is not None:
        obj["data"] = data
    obj["type"] = "Opaque"
    return obj


NOREF = object()  # pv(): no nodeStageSecretRef field at all (None emits null)


def pv(name, handle=None, driver=DRIVER, nfs=False, ref=NOREF, attrs=None):
    spec = {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": "luks",
        "volumeMode": "Filesystem",
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "default", "name": "data-" + name,
                     "uid": "5b1e0c9a-0000-4000-8000-" + "%012x" % zlib.crc32(name.encode()),
                     "apiVersion": "v1", "resourceVersion": "1234"},
    }
    if nfs:
        spec["nfs"] = {"server": "10.0.0.5", "path": "/exports/share"}
    else:
        spec["csi"] = {"driver": driver, "volumeHandle": handle, "fsType": "ext4",
                       "volumeAttributes": {
                           "capacity": "1073741824", "passphraseKey": "passphrase",
                           "storage.kubernetes.io/csiProvisionerIdentity":
                               "1714557600000-8081-" + driver}}
        if attrs is not None:  # the StorageClass parameters CreateVolume passed on
            spec["csi"]["volumeAttributes"].update(attrs)
        if ref is not NOREF:  # as the external-provisioner copies it from the StorageClass
            spec["csi"]["nodeStageSecretRef"] = ref
    return {
        "metadata": {"name": name, "uid": "9d7e1f00-1111-4222-8333-" + "%012x" % (len(name) * 4099),
                     "resourceVersion": "4700", "creationTimestamp": "2024-05-01T10:00:00Z",
                     "annotations": {"pv.kubernetes.io/provisioned-by": driver},
                     "finalizers": ["kubernetes.io/pv-protection"]},
        "spec": spec,
        "status": {"phase": "Bound", "lastPhaseTransitionTime": "2024-05-01T10:00:05Z"},
    }


def pv_list(items, cont=None, remaining=None):
    meta = {"resourceVersion": "4711"}
    if cont:
        meta["continue"] = cont
    if remaining is not None:
        meta["remainingItemCount"] = remaining
    return {"kind": "PersistentVolumeList", "apiVersion": "v1", "metadata": meta, "items": items}


def ref(ns, name):
    return {"name": name, "namespace": ns}


# pvc-bbb has no node-stage secret reference; the other driver's PV with the
# same handle as the restored one carries a different reference.
PAGES = {
    None: pv_list([pv("pvc-aaa", "pvc-aaa", ref=ref("tenant-a", "luks-pass")),
                   pv("nfs-share", nfs=True)], CONT2, 4),
    CONT2: pv_list([pv("other-driver-pv", "pvc-target", driver="ebs.csi.aws.com",
                       ref=ref("kube-system", "ebs-secret")),
                    pv("pvc-bbb", "pvc-bbb")], CONT3, 2),
    CONT3: pv_list([pv("restored-pv-7f3a", "pvc-target", ref=ref("backup", "restored.pass-v2")),
                    pv("pvc-ccc", "pvc-ccc", ref=ref("tenant-a", "luks-pass"))]),
}

# Hand-edited or hostile PVs: each handle's reference is broken in one way,
# except pvc-good's (which must be readable despite its neighbours).
BAD_REFS = [
    ("pvc-good", ref("ns1", "good")),
    ("pvc-nullref", None),
    ("pvc-badns", ref("Tenant_A", "x")),
    ("pvc-longns", ref("n" * 64, "x")),
    ("pvc-badname", ref("ns1", "../x")),
    ("pvc-nulbyte", ref("ns1", "x\x00y")),
    ("pvc-nons", {"name": "x"}),
    ("pvc-numname", {"name": 7, "namespace": "ns1"}),
    ("pvc-notobj", "ns1/x"),
]

PV_FORBIDDEN = status(
    403, "Forbidden",
    'persistentvolumes is forbidden: User "%s" cannot list resource "persistentvolumes" '
    'in API group "" at the cluster scope' % SA_USER, {"kind": "persistentvolumes"})


# For tests/adversary/test_pv_bound.c (privd against this server): a hardened
# volume A (its Secret is ns1/vol-a-keys) and a node-stage-secret volume N;
# no PV carries pvc-adv-b.
ADV_HARDENED = {"passphrase-secret-name": "vol-a-keys", "passphrase-secret-namespace": "ns1",
                "capacity": "67108864"}
ADV_PVS = [pv("pvc-adv-a", "pvc-adv-a", attrs=ADV_HARDENED),
           pv("static-n", "pvc-adv-n", ref=ref("ns1", "vol-n-pass"),
              attrs={"capacity": "67108864"}),
           pv("pvc-adv-b-other", "pvc-adv-b", driver="ebs.csi.aws.com",
              ref=ref("ns1", "vol-b-keys"))]


def pv_scenario(scn, cont):
    """(code, obj) or a misbehaviour name for /s/<scn>/api/v1/persistentvolumes."""
    if scn in ("paged", "p2fail", "p2expired", "p3truncated"):
        if cont not in PAGES:
            return status(400, "BadRequest", "continue key is not valid: illegal base64 data")
        if scn == "p2fail" and cont == CONT2:
            return status(500, "InternalError", "Internal error occurred: etcdserver: leader changed",
                          {"causes": [{"message": "etcdserver: leader changed"}]})
        if scn == "p2expired" and cont == CONT2:
            return status(410, "Expired", EXPIRED_MSG)
        if scn == "p3truncated" and cont == CONT3:
            return "truncated"
        return 200, PAGES[cont]
    if scn == "static":
        return 200, pv_list([pv("my-static-pv", "vol-static-1"), pv("pvc-named", "another-handle")])
    if scn == "badref":
        # After pvc-good: another driver's PV with the same handle and a valid ref.
        other = pv("ebs-good", "pvc-good", driver="ebs.csi.aws.com", ref=ref("ns1", "ebs"))
        return 200, pv_list([pv(h, h, ref=r) for h, r in BAD_REFS[:1]] + [other]
                            + [pv(h, h, ref=r) for h, r in BAD_REFS[1:]])
    if scn == "adv":
        return 200, pv_list(ADV_PVS)
    if scn == "empty":
        return 200, pv_list([])
    if scn == "nullitems":
        obj = pv_list([])
        obj["items"] = None
        return 200, obj
    if scn == "forbidden":
        return PV_FORBIDDEN
    if scn == "loop":
        return 200, pv_list([pv("pvc-aaa", "pvc-aaa")], "c2FtZQ==")
    if scn == "badshape":
        bad = pv("pvc-bad", "pvc-bad")
        bad["spec"]["csi"]["driver"] = 5
        return 200, pv_list([pv("pvc-aaa", "pvc-aaa"), bad])
    if scn == "notalist":
        return 200, {"kind": "PersistentVolume", "apiVersion": "v1", "metadata": {"name": "x"}}
    return status(404, "NotFound", "the server could not find the requested resource",
                  {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


def pv_get_scenario(scn, name):
    """GET /api/v1/persistentvolumes/<name>: the PV of that name among the
    scenario's items, with kind and apiVersion as a single GET has them
    (list items carry neither)."""
    if scn == "forbidden":
        return status(403, "Forbidden",
                      'persistentvolumes "%s" is forbidden: User "%s" cannot get resource '
                      '"persistentvolumes" in API group "" at the cluster scope' % (name, SA_USER),
                      {"name": name, "kind": "persistentvolumes"})
    if scn == "getwrongkind":
        return 200, secret_obj(name, "ns1", {"passphrase": b64(b"x")})
    if scn == "getboom":
        return status(500, "InternalError", "Internal error occurred: etcdserver: request timed out")
    if scn in ("paged", "p2fail", "p2expired", "p3truncated"):
        items = [i for page in PAGES.values() for i in page["items"]]
    else:
        res = pv_scenario(scn, None)
        items = res[1]["items"] if isinstance(res, tuple) and res[0] == 200 and \
            isinstance(res[1].get("items"), list) else []
    for item in items:
        if item["metadata"]["name"] == name:
            return 200, dict({"kind": "PersistentVolume", "apiVersion": "v1"}, **item)
    return status(404, "NotFound", 'persistentvolumes "%s" not found' % name,
                  {"name": name, "kind": "persistentvolumes"})


# PersistentVolumeClaims by (namespace, name): their annotations.
PVCS = {
    ("default", "data-forced"): {"lukscryptwalker.io/force-unstage": "true"},
    ("default", "data-plain"): {"volume.kubernetes.io/storage-provisioner": DRIVER},
    ("default", "data-yes"): {"lukscryptwalker.io/force-unstage": "yes"},
}


def forbidden(resource, verb, ns, name=""):
    return status(403, "Forbidden",
                  '%s%s is forbidden: User "%s" cannot %s resource "%s" in API group "" in the '
                  'namespace "%s"' % (resource, ' "%s"' % name if name else "", SA_USER, verb,
                                      resource, ns),
                  {"name": name, "kind": resource} if name else {"kind": resource})


def pvc_get(ns, name):
    if ns == "forbidden":
        return forbidden("persistentvolumeclaims", "get", ns, name)
    ann = PVCS.get((ns, name))
    if ann is None:
        return status(404, "NotFound", 'persistentvolumeclaims "%s" not found' % name,
                      {"name": name, "kind": "persistentvolumeclaims"})
    return 200, {
        "kind": "PersistentVolumeClaim", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "annotations": ann,
                     "uid": "5b1e0c9a-0000-4000-8000-" + "%012x" % zlib.crc32(name.encode()),
                     "resourceVersion": "4800", "finalizers": ["kubernetes.io/pvc-protection"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "luks", "volumeMode": "Filesystem", "volumeName": "pv-" + name},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"],
                   "capacity": {"storage": "1Gi"}}}


def event_create(ns, body):
    """What the API server does with a POST of a core v1 Event."""
    if ns == "forbidden":
        return forbidden("events", "create", ns)
    try:
        ev = json.loads(body)
    except ValueError as e:
        return status(400, "BadRequest", "the body of the request was in an unknown format: %s" % e)
    if not isinstance(ev, dict) or ev.get("kind") != "Event" or ev.get("apiVersion") != "v1":
        return status(400, "BadRequest", "the object is not a v1 Event")
    md, io = ev.get("metadata") or {}, ev.get("involvedObject") or {}
    errs = []
    if md.get("namespace") not in (None, ns):
        errs.append("metadata.namespace: Invalid value: %r: does not match the namespace "
                    "of the request" % md.get("namespace"))
    if io.get("namespace") != ns:
        errs.append("involvedObject.namespace: Invalid value: %r: does not match "
                    "event.namespace" % io.get("namespace"))
    if not md.get("name") or len(md["name"]) > 253:
        errs.append("metadata.name: Required value")
    if ev.get("type") not in ("Normal", "Warning"):
        errs.append("type: Unsupported value: %r" % ev.get("type"))
    if not ev.get("reason") or not io.get("kind") or not io.get("name"):
        errs.append("reason, involvedObject.kind and involvedObject.name are required")
    if len(ev.get("reportingComponent", "")) > 128 or len(ev.get("reportingInstance", "")) > 128:
        errs.append("reportingController: Too long")
    if errs:
        return status(422, "Invalid", 'Event "%s" is invalid: %s' % (md.get("name"), "; ".join(errs)))
    out = dict(ev)
    out["metadata"] = dict(md, namespace=ns, uid="e7e00000-0000-4000-8000-000000000001",
                           resourceVersion="4900", creationTimestamp="2024-05-01T10:00:00Z")
    return 201, out


def secret_scenario(ns, name):
    """(code, obj), (code, bytes) or a misbehaviour name for one Secret GET."""
    if ns == "locked":
        return status(403, "Forbidden",
                      'secrets "%s" is forbidden: User "%s" cannot get resource "secrets" in API '
                      'group "" in the namespace "%s"' % (name, SA_USER, ns),
                      {"name": name, "kind": "secrets"})
    if ns != "ns1":
        return status(404, "NotFound", 'namespaces "%s" not found' % ns,
                      {"name": ns, "kind": "namespaces"})
    simple = {
        "db-pass": lambda: (200, secret_obj(name, ns, {k: b64(v) for k, v in SECRET_DATA.items()})),
        "multi": lambda: (200, secret_obj(name, ns, sorted_b64(SECRET_MULTI))),
        "multi-badb64": lambda: (200, secret_obj(name, ns, sorted_b64(
            SECRET_MULTI, **{"s3-region": "ZXUtY2VudHJhbC0x*"}))),
        "multi-badkey": lambda: (200, secret_obj(name, ns, sorted_b64(
            SECRET_MULTI, **{"s3/bucket": b64(b"x")}))),
        "multi-notstring": lambda: (200, secret_obj(name, ns, sorted_b64(
            SECRET_MULTI, **{"s3-force-path-style": True}))),
        "vol-a-keys": lambda: (200, secret_obj(name, ns, {"passphrase": b64(b"secret of volume A")})),
        "vol-b-keys": lambda: (200, secret_obj(name, ns, {"passphrase": b64(b"secret of volume B")})),
        "rot-a": lambda: (200, secret_obj(name, ns, {"passphrase": b64(b"rotated ok")})),
        "rot-b": lambda: (200, secret_obj(name, ns, {"passphrase": b64(b"never")})),
        "nodata": lambda: (200, secret_obj(name, ns, None)),
        "odd-values": lambda: (200, secret_obj(name, ns, {"notb64": "abc*def=", "num": 12,
                                                         "badpad": "YW=j", "short": "YWJ"})),
        "configmap": lambda: (200, {"kind": "ConfigMap", "apiVersion": "v1",
                                    "metadata": {"name": name, "namespace": ns},
                                    "data": {"passphrase": b64(b"x")}}),
        "boom": lambda: status(500, "InternalError", "Internal error occurred: etcdserver: request timed out",
                               {"causes": [{"message": "etcdserver: request timed out"}]}),
        "teapot": lambda: status(429, "TooManyRequests", "storage is (re)initializing",
                                 {"retryAfterSeconds": 1}),
        "badjson": lambda: (200, b'{"kind":"Secret","apiVersion":"v1","data":{"passphrase":"YQ=="},}'),
        "garbage-after": lambda: (200, json.dumps(secret_obj(name, ns, {"passphrase": "YQ=="})).encode()
                                  + b"\n{}"),
        "html": lambda: (200, b"<html><body>Bad Gateway</body></html>"),
        "emptybody": lambda: (200, b""),
    }
    if name in simple:
        return simple[name]()
    if name in ("hang", "truncated", "oversized", "oversized-chunked", "redirect", "almost-max"):
        return name
    return status(404, "NotFound", 'secrets "%s" not found' % name, {"name": name, "kind": "secrets"})


LEASES = {}  # (namespace, name) -> Lease object, as server-side apply left it
LEASE_LOCK = threading.Lock()


def apply_lease(ns, name, body, ctype, query):
    """Server-side apply of a Lease, as the API does it for the fields the
    driver sends: 415 for another content type, 400 without fieldManager or
    when the object's name/namespace disagree with the URL, 201 on create,
    200 on update."""
    if ctype != "application/apply-patch+yaml":
        return status(415, "UnsupportedMediaType", "the body of the request was in an unknown format")
    if not query.get("fieldManager"):
        return status(400, "BadRequest", "PATCH with apply requires fieldManager")
    try:
        obj = json.loads(body)
    except ValueError:
        return status(400, "BadRequest", "error decoding YAML")
    md = obj.get("metadata", {})
    if (obj.get("apiVersion"), obj.get("kind")) != ("coordination.k8s.io/v1", "Lease") \
            or md.get("name") != name or md.get("namespace", ns) != ns:
        return status(400, "BadRequest", "the name of the object does not match the URL")
    with LEASE_LOCK:
        old = LEASES.get((ns, name))
        new = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name, "namespace": ns,
                            "resourceVersion": str(int(time.time() * 1000)),
                            "annotations": dict(md.get("annotations", {}))},
               "spec": dict(obj.get("spec", {}))}
        LEASES[(ns, name)] = new
    return (200 if old else 201), new


def get_lease(ns, name):
    with LEASE_LOCK:
        obj = LEASES.get((ns, name))
    if obj is None:
        return status(404, "NotFound", 'leases.coordination.k8s.io "%s" not found' % name,
                      {"name": name, "group": "coordination.k8s.io", "kind": "leases"})
    return 200, obj


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1.29"

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def record(self, path, query, auth, body=None):
        entry = {"server": self.server.label, "method": self.command, "path": path,
                 "query": query, "auth": auth, "accept": self.headers.get("Accept", "")}
        if body is not None:
            entry["body"] = body.decode("utf-8", "replace")
            entry["content_type"] = self.headers.get("Content-Type", "")
        with LOG_LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def auth_verdict(self):
        got = self.headers.get("Authorization")
        if got is None:
            return "missing"
        for label, tok in (("old", ARGS.token), ("new", ARGS.token_new)):
            if got == "Bearer " + tok:
                return label
        return "wrong"

    def send_json(self, code, obj):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def misbehave(self, what, path):
        if what == "hang":
            time.sleep(ARGS.hang_seconds)
            self.close_connection = True
            return
        if what == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1" + path)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            return
        if what == "truncated":
            body = json.dumps(pv_list([pv("pvc-ccc", "pvc-ccc")] * 20)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 500))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        # Valid JSON, just too big: 5 MiB of annotation; or exactly at the limit.
        size = ARGS.max_body - 1024 if what == "almost-max" else 5 * 1024 * 1024
        obj = secret_obj("big", "ns1", {"passphrase": b64(b"big")},
                         {"annotations": {"filler": "x" * size}})
        body = json.dumps(obj).encode()
        if what == "almost-max":
            pad = ARGS.max_body - len(body)
            assert pad >= 0
            body = body + b" " * pad  # exactly max_body bytes, whitespace after the value
            return self.send_json(200, body)
        if what == "oversized":
            return self.send_json(200, body)
        self.send_response(200)  # chunked: no length known up front
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for i in range(0, len(body), 65536):
                chunk = body[i:i + 65536]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client aborted, as it should
        self.close_connection = True

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        parts = url.path.split("/")
        scn = None
        if len(parts) > 2 and parts[1] == "s":
            scn, parts = parts[2], [""] + parts[3:]
        path = "/".join(parts)
        auth = self.auth_verdict()
        self.record(url.path, query, auth)
        # Token rotation scenario: only the new token is valid there.
        want = ("new",) if scn == "rot" else ("old",)
        if auth not in want:
            return self.send_json(*status(401, "Unauthorized", "Unauthorized"))
        res = self.route(scn, path, query)
        if isinstance(res, str):
            return self.misbehave(res, url.path)
        return self.send_json(*res)

    def do_PATCH(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        auth = self.auth_verdict()
        self.record(url.path, query, auth)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if auth != "old":
            return self.send_json(*status(401, "Unauthorized", "Unauthorized"))
        p = url.path.split("/")
        if len(p) == 8 and p[1:5] == ["apis", "coordination.k8s.io", "v1", "namespaces"] \
                and p[6] == "leases":
            if p[5] == "forbidden-ns":
                return self.send_json(*status(403, "Forbidden", 'leases.coordination.k8s.io is forbidden: '
                                              'User "system:serviceaccount:x:y" cannot patch resource '
                                              '"leases" in API group "coordination.k8s.io"'))
            return self.send_json(*apply_lease(p[5], p[7], body,
                                               self.headers.get("Content-Type", ""), query))
        return self.send_json(*status(405, "MethodNotAllowed", "the server does not allow this method"))

    def do_POST(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if 0 < n <= 1 << 20 else b""
        auth = self.auth_verdict()
        self.record(url.path, {}, auth, body)
        if auth != "old":
            return self.send_json(*status(401, "Unauthorized", "Unauthorized"))
        p = url.path.split("/")
        if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
            return self.send_json(*status(415, "UnsupportedMediaType",
                                          "the body of the request was in an unknown format"))
        if len(p) == 6 and p[1:4] == ["api", "v1", "namespaces"] and p[5] == "events":
            return self.send_json(*event_create(p[4], body))
        return self.send_json(*status(405, "MethodNotAllowed",
                                      "the server does not allow this method on the requested resource"))

    def route(self, scn, path, query):
        p = path.split("/")
        if len(p) == 7 and p[1:4] == ["api", "v1", "namespaces"] and p[5] == "persistentvolumeclaims":
            return pvc_get(p[4], p[6])
        if len(p) == 8 and p[1:5] == ["apis", "coordination.k8s.io", "v1", "namespaces"] \
                and p[6] == "leases":
            return get_lease(p[5], p[7])
        if path == "/api/v1/persistentvolumes":
            if query.get("limit") != [str(ARGS.expect_limit)]:
                return status(400, "BadRequest", "test server: expected limit=%d" % ARGS.expect_limit)
            cont = query.get("continue", [None])[0]
            return pv_scenario(scn or "paged", cont)
        if len(p) == 5 and p[1:4] == ["api", "v1", "persistentvolumes"] and p[4]:
            if query:
                return status(400, "BadRequest", "test server: no query on a GET by name")
            return pv_get_scenario(scn or "paged", p[4])
        if len(p) == 7 and p[1:4] == ["api", "v1", "namespaces"] and p[5] == "secrets":
            return secret_scenario(p[4], p[6])
        return status(404, "NotFound", "the server could not find the requested resource")


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, label, ctx):
        self.label, self.ctx = label, ctx
        super().__init__(("127.0.0.1", 0), Handler)

    def finish_request(self, request, client_address):
        # Handshake in the handler thread, not in accept(): a client that
        # aborts the handshake (wrong CA) must not stall the listener.
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        except (ConnectionError, ssl.SSLError, OSError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass


def context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    for a in ("--cert", "--key", "--wrong-cert", "--wrong-key", "--token", "--token-new",
              "--log", "--ports-file"):
        ap.add_argument(a, required=True)
    ap.add_argument("--expect-limit", type=int, default=2)
    ap.add_argument("--max-body", type=int, default=4 * 1024 * 1024)
    ap.add_argument("--hang-seconds", type=float, default=20.0)
    ARGS = ap.parse_args()
    ARGS.token = open(ARGS.token).read().strip()
    ARGS.token_new = open(ARGS.token_new).read().strip()

    servers = [TLSServer("main", context(ARGS.cert, ARGS.key)),
               TLSServer("wrong", context(ARGS.wrong_cert, ARGS.wrong_key))]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    dead = socket.socket()  # a port with nothing listening, for "unreachable"
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    tmp = ARGS.ports_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d\n" % (servers[0].server_address[1], servers[1].server_address[1], dead_port))
    os.rename(tmp, ARGS.ports_file)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
