"""A small stand-in for the Kubernetes API server for end-to-end tests (no
API server can run here). It serves the real v1 shapes the driver reads:
a Secret, a PersistentVolumeList, one PersistentVolume by name (with its
claimRef and annotations), a PersistentVolumeClaim by name, Events created
by POST (201 with the created object, kept in `events`), the pods of a node
(GET /api/v1/pods?fieldSelector=spec.nodeName=...) and their deletion with
a UID precondition (DELETE, kept in `deleted_pods`), and v1 Status
errors (403 where the node's RBAC would refuse: `state["rbac"]`), over TLS with a throwaway CA, and checks the bearer token. Tests change `state` while it
runs (which Secrets exist, which namespaces RBAC allows, which PVs exist,
whether the API fails)."""
import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

DRIVER = "lukscryptwalker.csi.k8s.io"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJlMmUifQ.c2ln"


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def pvc_uid(ns, name):
    return "5b1e0c9a-0000-4000-8000-%012x" % (abs(hash((ns, name))) % (1 << 48))


def pv_item(name, handle, attrs, ref, annotations=None, claim=None):
    """A PV as a list item (no kind), as the external-provisioner makes it:
    volumeAttributes are the CreateVolume volume context, the node-stage
    reference is copied from the StorageClass; bound to claim (ns, name)."""
    csi = {"driver": DRIVER, "volumeHandle": handle, "fsType": "ext4", "volumeAttributes": attrs}
    if ref is not None:
        csi["nodeStageSecretRef"] = ref
    md = {"name": name, "uid": name + "-uid", "resourceVersion": "4700",
          "annotations": dict({"pv.kubernetes.io/provisioned-by": DRIVER}, **(annotations or {}))}
    spec = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "csi": csi,
            "persistentVolumeReclaimPolicy": "Delete"}
    if claim is not None:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                            "namespace": claim[0], "name": claim[1],
                            "uid": pvc_uid(*claim), "resourceVersion": "4600"}
    return {"metadata": md, "spec": spec, "status": {"phase": "Bound"}}


def forbidden(resource, verb, ns, name=""):
    what = f'{resource} "{name}"' if name else resource
    return status(403, "Forbidden",
                  f'{what} is forbidden: User "system:serviceaccount:kube-system:'
                  f'lukscryptwalker-node" cannot {verb} resource "{resource}" in API group "" in '
                  f'the namespace "{ns}"')


class FakeKube:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="fake-kube-")
        os.chmod(self.dir, 0o755)
        self.ca = os.path.join(self.dir, "ca.crt")
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write(TOKEN)
        self._certs()
        self.lock = threading.Lock()
        self.state = {"secrets": {}, "allowed_namespaces": set(), "pvs": [], "fail": None,
                      # PV name -> annotations; PV name -> (ns, claim name)
                      "pv_annotations": {}, "claims": {},
                      # (ns, claim name) -> annotations of the PVC
                      "pvcs": {},
                      # what the node's ClusterRole grants beyond PVs
                      "rbac": {"events": True, "persistentvolumeclaims": True,
                               # only the --delete-unrepairable-pods opt-in grants pods
                               "pods": False},
                      "leases": {},
                      # (ns, name) -> (uid, node name)
                      "pods": {}}
        self.deleted_pods = []
        self.events = []
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def send_json(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                outer.handle(self)

            def do_PATCH(self):
                outer.handle_patch(self)
            def do_POST(self):
                outer.handle_post(self)

            def do_DELETE(self):
                outer.handle_delete(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(self.dir, "srv.crt"), os.path.join(self.dir, "srv.key"))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _certs(self):
        d = self.dir
        run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=e2e-ca", "-keyout", f"{d}/ca.key", "-out",
            f"{d}/ca.crt", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-subj", "/CN=kube-apiserver", "-keyout", f"{d}/srv.key", "-out",
            f"{d}/srv.csr")
        with open(f"{d}/ext.cnf", "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", f"{d}/srv.csr", "-CA", f"{d}/ca.crt", "-CAkey",
            f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext.cnf", "-out",
            f"{d}/srv.crt")

    def driver_args(self):
        return [f"--kube-api={self.url}", f"--kube-token-file={self.token_file}",
                f"--kube-ca-file={self.ca}"]

    def set_secret(self, ns, name, data):
        with self.lock:
            self.state["secrets"][(ns, name)] = data
            self.state["allowed_namespaces"].add(ns)

    def set_pvs(self, pvs):
        """pvs: list of (pv name, volume handle[, volumeAttributes[, secret ref]]),
        the ref a dict {"name": ..., "namespace": ...} served as
        spec.csi.nodeStageSecretRef (omitted when absent or None)."""
        norm = []
        for p in pvs:
            if not 2 <= len(p) <= 4:
                raise ValueError(f"PV entry needs 2 to 4 elements: {p!r}")
            name, handle = p[0], p[1]
            attrs = p[2] if len(p) > 2 and p[2] is not None else {}
            ref = p[3] if len(p) > 3 else None
            norm.append((name, handle, dict(attrs), dict(ref) if ref is not None else None))
        with self.lock:
            self.state["pvs"] = norm

    def add_pv(self, name, handle, attrs=None, ref=None):
        """Create or replace the PV called name, leaving the others."""
        entry = (name, handle, dict(attrs or {}), dict(ref) if ref is not None else None)
        with self.lock:
            self.state["pvs"] = [p for p in self.state["pvs"] if p[0] != name] + [entry]

    def has_pv(self, handle):
        with self.lock:
            return any(p[1] == handle for p in self.state["pvs"])

    def set_claim(self, pv_name, ns, name, pvc_annotations=None, pv_annotations=None):
        """Bind PV pv_name to the claim ns/name (which then exists), with
        these annotations on each."""
        with self.lock:
            self.state["claims"][pv_name] = (ns, name)
            self.state["pvcs"][(ns, name)] = dict(pvc_annotations or {})
            self.state["pv_annotations"][pv_name] = dict(pv_annotations or {})

    def set_pod(self, ns, name, uid, node):
        with self.lock:
            self.state["pods"][(ns, name)] = (uid, node)

    def events_for(self, ns, name, reason=None):
        with self.lock:
            return [e for e in self.events
                    if e["involvedObject"]["namespace"] == ns and e["involvedObject"]["name"] == name
                    and (reason is None or e["reason"] == reason)]

    def set_rbac(self, resource, allowed):
        with self.lock:
            self.state["rbac"][resource] = allowed

    def set_fail(self, code):
        with self.lock:
            self.state["fail"] = code

    def handle(self, h):
        path = urlsplit(h.path).path
        with self.lock:
            self.requests.append(path)
            st = {k: (v.copy() if hasattr(v, "copy") else v) for k, v in self.state.items()}
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return h.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        if st["fail"]:
            return h.send_json(st["fail"], status(st["fail"], "InternalError",
                                                  "etcdserver: request timed out"))
        parts = path.strip("/").split("/")
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6 and parts[4] == "secrets":
            ns, name = parts[3], parts[5]
            if ns not in st["allowed_namespaces"]:
                return h.send_json(403, status(
                    403, "Forbidden",
                    f'secrets "{name}" is forbidden: User "system:serviceaccount:kube-system:'
                    f'lukscryptwalker-node" cannot get resource "secrets" in API group "" in '
                    f'the namespace "{ns}"'))
            data = st["secrets"].get((ns, name))
            if data is None:
                return h.send_json(404, status(404, "NotFound", f'secrets "{name}" not found'))
            return h.send_json(200, {
                "kind": "Secret", "apiVersion": "v1", "type": "Opaque",
                "metadata": {"name": name, "namespace": ns, "uid": "0b3f", "resourceVersion": "7"},
                "data": {k: base64.b64encode(v).decode() for k, v in data.items()}})
        if len(parts) == 7 and parts[:4] == ["apis", "coordination.k8s.io", "v1", "namespaces"] \
                and parts[5] == "leases":
            obj = st["leases"].get((parts[4], parts[6]))
            if obj is None:
                return h.send_json(404, status(404, "NotFound",
                                               f'leases.coordination.k8s.io "{parts[6]}" not found'))
            return h.send_json(200, obj)
        if parts == ["api", "v1", "pods"]:
            return self._pod_list(h, st)
        if parts == ["api", "v1", "persistentvolumes"]:
            items = [self._pv(p, st) for p in st["pvs"]]
            return h.send_json(200, {"kind": "PersistentVolumeList", "apiVersion": "v1",
                                     "metadata": {"resourceVersion": "4711"}, "items": items})
        if parts[:3] == ["api", "v1", "persistentvolumes"] and len(parts) == 4:
            # GET by name: a single object carries kind and apiVersion
            for p in st["pvs"]:
                if p[0] == parts[3]:
                    return h.send_json(200, dict({"kind": "PersistentVolume", "apiVersion": "v1"},
                                                 **self._pv(p, st)))
            return h.send_json(404, status(404, "NotFound",
                                           f'persistentvolumes "{parts[3]}" not found'))
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6 and \
                parts[4] == "persistentvolumeclaims":
            ns, name = parts[3], parts[5]
            if not st["rbac"]["persistentvolumeclaims"]:
                return h.send_json(403, forbidden("persistentvolumeclaims", "get", ns, name))
            ann = st["pvcs"].get((ns, name))
            if ann is None:
                return h.send_json(404, status(404, "NotFound",
                                               f'persistentvolumeclaims "{name}" not found'))
            return h.send_json(200, {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns, "uid": pvc_uid(ns, name),
                             "resourceVersion": "4800", "annotations": ann},
                "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                         "resources": {"requests": {"storage": "1Gi"}}},
                "status": {"phase": "Bound"}})
        return h.send_json(404, status(404, "NotFound", "the server could not find the resource"))

    # ---- Leases (the nodes' capacity, common/k8s_capacity.c) -------------

    def set_lease(self, ns, node, available, maximum, left, age_s=0):
        """A capacity Lease as a node's privd publishes it, renewed age_s ago."""
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - age_s))
        obj = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": f"lcw-capacity-{node}", "namespace": ns, "annotations": {
                   "capacity.lukscryptwalker.io/available-bytes": str(available),
                   "capacity.lukscryptwalker.io/maximum-volume-bytes": str(maximum),
                   "capacity.lukscryptwalker.io/volumes-left": str(left)}},
               "spec": {"holderIdentity": node, "renewTime": when}}
        with self.lock:
            self.state["leases"][(ns, f"lcw-capacity-{node}")] = obj

    def lease(self, ns, node):
        with self.lock:
            return self.state["leases"].get((ns, f"lcw-capacity-{node}"))

    def handle_patch(self, h):
        """Server-side apply of a Lease, as the API does it for what the
        driver sends (415 for another content type, fieldManager required,
        201 created / 200 updated)."""
        url = urlsplit(h.path)
        query = parse_qs(url.query)
        body = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        with self.lock:
            self.requests.append(url.path)
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return h.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        parts = url.path.strip("/").split("/")
        if not (len(parts) == 7 and parts[:4] == ["apis", "coordination.k8s.io", "v1",
                                                   "namespaces"] and parts[5] == "leases"):
            return h.send_json(405, status(405, "MethodNotAllowed", "method not allowed"))
        if h.headers.get("Content-Type") != "application/apply-patch+yaml":
            return h.send_json(415, status(415, "UnsupportedMediaType", "unknown format"))
        if not query.get("fieldManager"):
            return h.send_json(400, status(400, "BadRequest", "fieldManager is required"))
        obj = json.loads(body)
        if obj.get("metadata", {}).get("name") != parts[6]:
            return h.send_json(400, status(400, "BadRequest", "name does not match the URL"))
        with self.lock:
            created = (parts[4], parts[6]) not in self.state["leases"]
            self.state["leases"][(parts[4], parts[6])] = obj
        return h.send_json(201 if created else 200, obj)
    def _pv(self, p, st):
        return pv_item(*p, annotations=st["pv_annotations"].get(p[0]), claim=st["claims"].get(p[0]))

    def handle_post(self, h):
        path = urlsplit(h.path).path
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if 0 < n <= 1 << 20 else b""
        with self.lock:
            self.requests.append("POST " + path)
            rbac = dict(self.state["rbac"])
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return h.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        parts = path.strip("/").split("/")
        if not (parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 5 and
                parts[4] == "events"):
            return h.send_json(405, status(405, "MethodNotAllowed",
                                           "the server does not allow this method"))
        ns = parts[3]
        if not rbac["events"]:
            return h.send_json(403, forbidden("events", "create", ns))
        try:
            ev = json.loads(body)
        except ValueError:
            return h.send_json(400, status(400, "BadRequest", "not JSON"))
        md, io = ev.get("metadata") or {}, ev.get("involvedObject") or {}
        if ev.get("kind") != "Event" or md.get("namespace", ns) != ns or io.get("namespace") != ns \
                or ev.get("type") not in ("Normal", "Warning") or not ev.get("reason") \
                or not md.get("name"):
            return h.send_json(422, status(422, "Invalid", f'Event "{md.get("name")}" is invalid'))
        out = dict(ev, metadata=dict(md, namespace=ns, uid="e7e0-" + str(len(self.events)),
                                     resourceVersion="4900"))
        with self.lock:
            self.events.append(out)
        return h.send_json(201, out)

    @staticmethod
    def _pod(ns, name, uid, node):
        return {"metadata": {"name": name, "namespace": ns, "uid": uid, "resourceVersion": "5100",
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                  "name": name.rsplit("-", 1)[0], "uid": "5e7",
                                                  "controller": True}]},
                "spec": {"nodeName": node, "containers": [{"name": "db", "image": "postgres:16"}]},
                "status": {"phase": "Running"}}

    def _pod_list(self, h, st):
        """Pods across namespaces, as the API lists them: the only field
        selector the driver sends is spec.nodeName=<node>."""
        query = parse_qs(urlsplit(h.path).query)
        if not st["rbac"]["pods"]:
            return h.send_json(403, status(
                403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:kube-system:'
                'lukscryptwalker-node" cannot list resource "pods" in API group "" at the '
                'cluster scope'))
        sel = query.get("fieldSelector", [""])[0]
        if sel and not sel.startswith("spec.nodeName="):
            return h.send_json(400, status(400, "BadRequest",
                                           f'field label not supported: {sel.split("=")[0]}'))
        node = sel[len("spec.nodeName="):] if sel else None
        items = [self._pod(ns, name, uid, n) for (ns, name), (uid, n) in st["pods"].items()
                 if node is None or n == node]
        return h.send_json(200, {"kind": "PodList", "apiVersion": "v1",
                                 "metadata": {"resourceVersion": "5200"}, "items": items})

    def handle_delete(self, h):
        """DELETE of a pod with DeleteOptions: 404 when absent, 409 when the
        UID precondition does not hold, else 200 with the pod (graceful)."""
        path = urlsplit(h.path).path
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if 0 < n <= 1 << 20 else b""
        with self.lock:
            self.requests.append("DELETE " + path)
            allowed = self.state["rbac"]["pods"]
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return h.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        parts = path.strip("/").split("/")
        if not (parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 6 and
                parts[4] == "pods"):
            return h.send_json(405, status(405, "MethodNotAllowed",
                                           "the server does not allow this method"))
        ns, name = parts[3], parts[5]
        if not allowed:
            return h.send_json(403, forbidden("pods", "delete", ns, name))
        try:
            opts = json.loads(body) if body else {}
        except ValueError:
            return h.send_json(400, status(400, "BadRequest", "not JSON"))
        want = (opts.get("preconditions") or {}).get("uid")
        with self.lock:
            pod = self.state["pods"].get((ns, name))
            if pod is None:
                return h.send_json(404, status(404, "NotFound", f'pods "{name}" not found'))
            if want is not None and want != pod[0]:
                return h.send_json(409, status(
                    409, "Conflict", f"Precondition failed: UID in precondition: {want}, "
                    f"UID in object meta: {pod[0]}"))
            del self.state["pods"][(ns, name)]
            self.deleted_pods.append((ns, name, pod[0]))
        obj = dict({"kind": "Pod", "apiVersion": "v1"}, **self._pod(ns, name, *pod))
        obj["metadata"]["deletionTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return h.send_json(200, obj)

    def stop(self):
        self.httpd.shutdown()
