// Checks on objects rendered by `helm template` (tests/chart/run.sh).
//
//   node check-objects.mjs LABEL FILE.yaml
//
// For one rendered file: every object validated against the Kubernetes
// schemas (kubernetes-models), unknown fields included, then the chart's
// hardening properties. Prints one "ok - NAME" or "not ok - NAME: DETAIL"
// line per check; exits 0 (run.sh counts the lines).
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const [label, file] = process.argv.slice(2);
if (!label || !file) {
  console.error("usage: check-objects.mjs LABEL FILE.yaml");
  process.exit(2);
}

const DRIVER = "lukscryptwalker.csi.k8s.io";
const results = [];
function check(name, fn) {
  let problems;
  try {
    problems = fn() || [];
  } catch (e) {
    problems = [`exception: ${e.stack || e}`];
  }
  results.push([name, problems]);
}

// ---- load -------------------------------------------------------------------
const docs = parseAllDocuments(readFileSync(file, "utf8"));
const objects = [];
const parseErrors = [];
for (const d of docs) {
  if (d.errors.length) parseErrors.push(...d.errors.map((e) => e.message));
  const o = d.toJS();
  if (o !== null && o !== undefined) objects.push(o);
}
const id = (o) => `${o.kind}/${o.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o.metadata?.name}`;
const ofKind = (k) => objects.filter((o) => o.kind === k);

// ---- schema validation (kubernetes-models), unknown fields included --------
// The models' validators accept unknown fields. To catch misspelt keys,
// the object is wrapped in proxies that record which properties the
// validator reads: a key it never reads is not in the schema (maps such as
// labels are enumerated by the validator and are exempt).
function modelModule(apiVersion, kind) {
  const [g, v] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  return g ? `kubernetes-models/${g}/${v}/${kind}` : `kubernetes-models/${v}/${kind}`;
}

async function schemaCheck(obj) {
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string")
    return ["no apiVersion/kind"];
  let src;
  try {
    src = readFileSync(new URL(import.meta.resolve(modelModule(obj.apiVersion, obj.kind))), "utf8");
  } catch {
    return [`unknown kind ${obj.apiVersion} ${obj.kind}`];
  }
  const m = src.match(/_schemas\/([A-Za-z0-9]+)\.js/);
  if (!m) return [`no schema found for ${obj.apiVersion} ${obj.kind}`];
  const { validate } = await import(`kubernetes-models/_schemas/${m[1]}`);
  const unread = [];
  const after = [];
  const wrap = (v, path) => {
    if (v === null || typeof v !== "object") return v;
    const target = Array.isArray(v)
      ? v.map((x, i) => wrap(x, `${path}/${i}`))
      : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrap(x, `${path}/${k}`)]));
    const seen = new Set();
    let enumerated = false;
    after.push(() => {
      if (Array.isArray(v) || enumerated) return;
      for (const k of Object.keys(v)) if (!seen.has(k)) unread.push(`${path}/${k}`);
    });
    return new Proxy(target, {
      get(t, k, r) {
        if (typeof k === "string") seen.add(k);
        return Reflect.get(t, k, r);
      },
      has(t, k) {
        if (typeof k === "string") seen.add(k);
        return Reflect.has(t, k);
      },
      ownKeys(t) {
        enumerated = true;
        return Reflect.ownKeys(t);
      },
    });
  };
  const valid = validate(wrap(obj, ""));
  after.forEach((f) => f());
  const problems = [];
  if (!valid)
    for (const e of validate.errors || [])
      problems.push(`${e.instancePath || "/"} ${e.message || e.keyword} ${JSON.stringify(e.params)}`);
  // report the outermost unknown key only
  unread.sort();
  for (const p of unread)
    if (!unread.some((q) => q !== p && p.startsWith(q + "/"))) problems.push(`unknown field ${p}`);
  return problems;
}

const DNS1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABELV = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const schemaProblems = [];
for (const o of objects) {
  for (const p of await schemaCheck(o)) schemaProblems.push(`${id(o)}: ${p}`);
  const name = o.metadata?.name;
  if (typeof name !== "string" || name.length > 253 || !DNS1123.test(name))
    schemaProblems.push(`${id(o)}: invalid name`);
  if (["DaemonSet", "Deployment", "ServiceAccount"].includes(o.kind) && name.length > 63)
    schemaProblems.push(`${id(o)}: name longer than 63`);
  for (const [k, v] of Object.entries(o.metadata?.labels || {}))
    if (typeof v !== "string" || v.length > 63 || !LABELV.test(v))
      schemaProblems.push(`${id(o)}: invalid label ${k}=${v}`);
}
results.push([`${label}: yaml parses`, parseErrors]);
results.push([`${label}: ${objects.length} objects valid against the Kubernetes schemas`, schemaProblems]);

// ---- helpers for workloads ---------------------------------------------------
const node = ofKind("DaemonSet")[0];
const ctrl = ofKind("Deployment")[0];
const podSpec = (w) => w?.spec?.template?.spec;
const containersOf = (w) => [
  ...(podSpec(w)?.initContainers || []),
  ...(podSpec(w)?.containers || []),
];
const allContainers = () =>
  [...ofKind("DaemonSet"), ...ofKind("Deployment"), ...ofKind("StatefulSet")].flatMap((w) =>
    containersOf(w).map((c) => ({ w, c, where: `${w.kind}/${w.metadata.name}/${c.name}` }))
  );
// effective security settings: container overrides pod
const eff = (w, c, key) => {
  const cv = c.securityContext?.[key];
  return cv !== undefined ? cv : podSpec(w)?.securityContext?.[key];
};
const isNodeDriver = (w, c) => w === node && c.name === "driver";

check(`${label}: one node DaemonSet and one controller Deployment`, () => {
  const p = [];
  if (ofKind("DaemonSet").length !== 1) p.push(`${ofKind("DaemonSet").length} DaemonSets`);
  if (ofKind("Deployment").length + ofKind("StatefulSet").length !== 1) p.push("want exactly one controller workload");
  return p;
});

// ---- hardening ---------------------------------------------------------------
check(`${label}: only the node driver container is privileged`, () => {
  const p = [];
  let driverPrivileged = false;
  for (const { w, c, where } of allContainers()) {
    const priv = c.securityContext?.privileged === true;
    if (isNodeDriver(w, c)) driverPrivileged = priv;
    else if (priv) p.push(`${where} is privileged`);
  }
  if (!driverPrivileged) p.push("node driver container is not privileged (Bidirectional propagation needs it)");
  return p;
});

check(`${label}: only the node driver and the registrar run as root`, () => {
  const p = [];
  for (const { w, c, where } of allContainers()) {
    const uid = eff(w, c, "runAsUser");
    const nonRoot = eff(w, c, "runAsNonRoot");
    const root = uid === 0 || (uid === undefined && nonRoot !== true);
    const allowed = isNodeDriver(w, c) || (w === node && c.name === "node-driver-registrar");
    if (root && !allowed) p.push(`${where} may run as root (runAsUser=${uid}, runAsNonRoot=${nonRoot})`);
    if (!root && nonRoot !== true) p.push(`${where} lacks runAsNonRoot: true`);
  }
  const reg = containersOf(node).find((c) => c.name === "node-driver-registrar");
  if (!reg) p.push("no node-driver-registrar");
  else {
    const sc = reg.securityContext || {};
    if (sc.privileged) p.push("registrar privileged");
    if (sc.allowPrivilegeEscalation !== false) p.push("registrar allows privilege escalation");
    if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') p.push("registrar does not drop ALL");
    const add = sc.capabilities?.add || [];
    if (add.some((x) => x !== "DAC_OVERRIDE")) p.push(`registrar adds ${add}`);
  }
  return p;
});

check(`${label}: controller is non-root, read-only, no capabilities, RuntimeDefault seccomp`, () => {
  const p = [];
  if (!ctrl) return ["no controller Deployment"];
  if (podSpec(ctrl).securityContext?.runAsNonRoot !== true) p.push("pod lacks runAsNonRoot");
  for (const c of containersOf(ctrl)) {
    const where = `controller/${c.name}`;
    const sc = c.securityContext || {};
    if (eff(ctrl, c, "runAsNonRoot") !== true) p.push(`${where} runAsNonRoot`);
    if (!(eff(ctrl, c, "runAsUser") > 0)) p.push(`${where} runAsUser`);
    if (sc.readOnlyRootFilesystem !== true) p.push(`${where} readOnlyRootFilesystem`);
    if (sc.allowPrivilegeEscalation !== false) p.push(`${where} allowPrivilegeEscalation`);
    if (sc.privileged === true) p.push(`${where} privileged`);
    if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') p.push(`${where} does not drop ALL`);
    if ((sc.capabilities?.add || []).length) p.push(`${where} adds capabilities`);
    if (eff(ctrl, c, "seccompProfile")?.type !== "RuntimeDefault") p.push(`${where} seccomp`);
  }
  const drv = containersOf(ctrl).find((c) => c.name === "driver");
  if (!drv) p.push("no driver container in the controller");
  else if (!(drv.args || []).some((a) => a.includes("/var/lib/csi/sockets/pluginproxy/")))
    p.push("controller driver endpoint is not under /var/lib/csi/sockets/pluginproxy/");
  return p;
});

check(`${label}: sidecars are unprivileged, read-only, drop ALL, RuntimeDefault seccomp`, () => {
  const p = [];
  for (const { w, c, where } of allContainers()) {
    if (c.name === "driver") continue;
    const sc = c.securityContext || {};
    if (sc.privileged === true) p.push(`${where} privileged`);
    if (sc.allowPrivilegeEscalation !== false) p.push(`${where} allowPrivilegeEscalation`);
    if (sc.readOnlyRootFilesystem !== true) p.push(`${where} readOnlyRootFilesystem`);
    if (JSON.stringify(sc.capabilities?.drop) !== '["ALL"]') p.push(`${where} does not drop ALL`);
    if (eff(w, c, "seccompProfile")?.type !== "RuntimeDefault") p.push(`${where} seccomp`);
  }
  return p;
});

check(`${label}: no host network or IPC namespace; host PID only in the node plugin (node.repairPodMounts); hostPath only in the node plugin`, () => {
  const p = [];
  for (const w of [...ofKind("DaemonSet"), ...ofKind("Deployment")]) {
    const s = podSpec(w);
    for (const k of ["hostNetwork", "hostPID", "hostIPC"]) if (s[k]) {
      // node.repairPodMounts: privd must see pods' processes (SECURITY.md)
      if (k === "hostPID" && w === node) continue;
      p.push(`${w.metadata.name} ${k}`);
    }
    if (w !== node && (s.volumes || []).some((v) => v.hostPath)) p.push(`${w.metadata.name} uses hostPath`);
  }
  // Bidirectional only for the kubelet directory, only in the node driver.
  for (const { w, c, where } of allContainers())
    for (const m of c.volumeMounts || [])
      if (m.mountPropagation === "Bidirectional" && !(isNodeDriver(w, c) && m.name === "kubelet-dir"))
        p.push(`${where} mounts ${m.name} Bidirectional`);
  const hp = (podSpec(node)?.volumes || []).filter((v) => v.hostPath).map((v) => v.hostPath.path);
  const kubelet = containersOf(node)
    .find((c) => c.name === "driver")
    ?.args?.find((a) => a.startsWith("--kubelet-root="))
    ?.split("=")[1];
  for (const path of hp) {
    const ok =
      path === "/dev" ||
      path === kubelet ||
      path === `${kubelet}/plugins_registry` ||
      path === `${kubelet}/plugins/${DRIVER}` ||
      /^\/(opt|var)\//.test(path);
    if (!ok) p.push(`unexpected hostPath ${path}`);
  }
  return p;
});

check(`${label}: API tokens only in the containers that call the API`, () => {
  const p = [];
  const allowed = new Set(["DaemonSet/driver", "DaemonSet/csi-addons", "Deployment/driver",
    "Deployment/csi-provisioner", "Deployment/csi-resizer"]);
  for (const w of [...ofKind("DaemonSet"), ...ofKind("Deployment")])
    if (podSpec(w).automountServiceAccountToken !== false) p.push(`${w.metadata.name} automounts a token`);
  for (const sa of ofKind("ServiceAccount"))
    if (sa.automountServiceAccountToken !== false) p.push(`${sa.metadata.name} automounts a token`);
  for (const { w, c, where } of allContainers()) {
    const tokenVols = new Set(
      (podSpec(w).volumes || [])
        .filter((v) => (v.projected?.sources || []).some((s) => s.serviceAccountToken))
        .map((v) => v.name)
    );
    const has = (c.volumeMounts || []).some((m) => tokenVols.has(m.name));
    if (has && !allowed.has(`${w.kind}/${c.name}`)) p.push(`${where} gets an API token`);
  }
  return p;
});

check(`${label}: RBAC: no Secret access cluster-wide, no wildcards, Secret Roles namespaced and read-only`, () => {
  const p = [];
  const dangerous = ["escalate", "bind", "impersonate", "*"];
  for (const r of [...ofKind("ClusterRole"), ...ofKind("Role")]) {
    for (const rule of r.rules || []) {
      const res = rule.resources || [];
      const verbs = rule.verbs || [];
      if ((rule.apiGroups || []).includes("*")) p.push(`${id(r)} apiGroups *`);
      if (res.includes("*") || res.some((x) => x.endsWith("/*"))) p.push(`${id(r)} resources *`);
      if (verbs.some((v) => dangerous.includes(v))) p.push(`${id(r)} verbs ${verbs}`);
      if (rule.nonResourceURLs) p.push(`${id(r)} nonResourceURLs`);
      for (const bad of ["pods/exec", "pods/attach", "serviceaccounts/token", "nodes/proxy"])
        if (res.includes(bad)) p.push(`${id(r)} grants ${bad}`);
      if (res.includes("secrets")) {
        if (r.kind === "ClusterRole") p.push(`${id(r)} grants secrets cluster-wide`);
        if (verbs.some((v) => v !== "get")) p.push(`${id(r)} secrets verbs ${verbs}`);
        if ((rule.apiGroups || []).join() !== "") p.push(`${id(r)} secrets apiGroups`);
      }
    }
  }
  // a ClusterRole bound by a RoleBinding would still be fine; a ClusterRole
  // granting secrets is already refused above. Bindings must point at
  // objects of this release.
  const names = new Set([...ofKind("ClusterRole"), ...ofKind("Role")].map((r) => `${r.kind}/${r.metadata.name}`));
  for (const b of [...ofKind("ClusterRoleBinding"), ...ofKind("RoleBinding")]) {
    if (!names.has(`${b.roleRef.kind}/${b.roleRef.name}`)) p.push(`${id(b)} binds ${b.roleRef.kind}/${b.roleRef.name} (not ours)`);
    for (const s of b.subjects || [])
      if (s.kind !== "ServiceAccount") p.push(`${id(b)} subject ${s.kind}`);
  }
  // The node's ClusterRole: PersistentVolumes get/list, PVCs get (the
  // force-unstage annotation), events create; nothing else.
  const nodeRole = ofKind("ClusterRole").find((r) => r.metadata.name.endsWith("-node"));
  if (!nodeRole) p.push("no node ClusterRole");
  else if (JSON.stringify(nodeRole.rules.map((r) => [r.apiGroups, r.resources, r.verbs])) !==
      JSON.stringify([[[""], ["persistentvolumes"], ["get", "list"]],
        [[""], ["persistentvolumeclaims"], ["get"]], [[""], ["events"], ["create"]]]))
    p.push(`node ClusterRole grants more than persistentvolumes get/list, ` +
      `persistentvolumeclaims get, events create`);
  return p;
});

check(`${label}: pods list/delete and --delete-unrepairable-pods only where asked for (off by default), and only with hostPID`, () => {
  const p = [];
  const want = label === "s3-delete-unrepairable-pods";
  const privd = containersOf(node).find((c) => (c.args || []).includes("--mode=node"));
  const flag = !!privd && (privd.args || []).includes("--delete-unrepairable-pods");
  if (flag !== want) p.push(want ? "--delete-unrepairable-pods missing" : "--delete-unrepairable-pods present");
  const podRules = [...ofKind("ClusterRole"), ...ofKind("Role")].flatMap((r) =>
    (r.rules || []).filter((x) => (x.resources || []).includes("pods") &&
      (x.verbs || []).some((v) => v !== "get")).map((x) => [r.metadata.name, x]));
  if (want) {
    const ok = podRules.length === 1 && podRules[0][0].endsWith("-node-pod-delete") &&
      JSON.stringify(podRules[0][1].verbs) === JSON.stringify(["list", "delete"]) &&
      JSON.stringify(podRules[0][1].resources) === JSON.stringify(["pods"]);
    if (!ok) p.push(`pod rules ${JSON.stringify(podRules)}`);
    if (!node.spec.template.spec.hostPID) p.push("no hostPID: privd could not find the pods");
  } else if (podRules.length) {
    p.push(`pods ${JSON.stringify(podRules)} granted without the opt-in`);
  }
  return p;
});

check(`${label}: the csi-addons sidecar only where asked for (off by default)`, () => {
  const p = [];
  const has = containersOf(node).some((c) => c.name === "csi-addons");
  const want = label === "csi-addons";
  if (has !== want) p.push(want ? "csi-addons sidecar missing" : "csi-addons sidecar present");
  const role = ofKind("ClusterRole").some((r) => r.metadata.name.endsWith("-node-csi-addons"));
  if (role !== want) p.push(want ? "its ClusterRole missing" : "its ClusterRole present");
  if (want) {
    const c = containersOf(node).find((x) => x.name === "csi-addons");
    if (!(c.args || []).includes("--csi-addons-address=/csi/csi.sock"))
      p.push("sidecar does not talk to the driver's socket");
  }
  return p;
});

check(`${label}: images pinned (sidecars by release tag, never latest)`, () => {
  const p = [];
  for (const { c, where } of allContainers()) {
    const img = c.image || "";
    if (/@sha256:[a-f0-9]{64}$/.test(img)) continue;
    const tag = img.includes(":") ? img.slice(img.lastIndexOf(":") + 1) : "";
    if (!tag || tag.includes("/")) p.push(`${where} image ${img} has no tag`);
    else if (tag === "latest") p.push(`${where} uses :latest`);
    else if (c.name !== "driver" && !/^v\d+\.\d+\.\d+$/.test(tag)) p.push(`${where} tag ${tag} is not a release`);
    const home = c.name === "csi-addons" ? "quay.io/csiaddons/" : "registry.k8s.io/sig-storage/";
    if (c.name !== "driver" && !img.startsWith(home))
      p.push(`${where} sidecar not from ${home}`);
  }
  return p;
});

check(`${label}: every container has CPU/memory requests and a memory limit`, () => {
  const p = [];
  for (const { c, where } of allContainers()) {
    const r = c.resources || {};
    if (!r.requests?.cpu || !r.requests?.memory) p.push(`${where} requests`);
    if (!r.limits?.memory) p.push(`${where} memory limit`);
  }
  return p;
});

const mib = (q) => {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(String(q));
  if (!m) return NaN;
  const f = { Ki: 1 / 1024, Mi: 1, Gi: 1024, Ti: 1024 * 1024 }[m[2]] ?? 1 / (1024 * 1024);
  return Number(m[1]) * f;
};

check(`${label}: node memory limit covers the KDF budget (and 1 GiB Go-driver unlocks) plus baseline`, () => {
  const drv = containersOf(node).find((c) => c.name === "driver");
  const arg = drv.args.find((a) => a.startsWith("--kdf-budget-mib="));
  if (!arg) return ["driver has no --kdf-budget-mib"];
  const budget = Number(arg.split("=")[1]);
  const limit = mib(drv.resources?.limits?.memory);
  const need = Math.max(budget, 1024) + 64; // 64 MiB: ~3x the measured 22.5 MiB RSS
  return limit >= need ? [] : [`limit ${drv.resources?.limits?.memory} < ${need}Mi`];
});

check(`${label}: CSIDriver: attachRequired false, fsGroupPolicy File, no pod info`, () => {
  const d = ofKind("CSIDriver");
  if (d.length !== 1) return [`${d.length} CSIDriver objects`];
  const s = d[0].spec || {};
  const p = [];
  if (d[0].metadata.name !== DRIVER) p.push(`name ${d[0].metadata.name}`);
  if (s.attachRequired !== false) p.push(`attachRequired ${s.attachRequired}`);
  if (s.fsGroupPolicy !== "File") p.push(`fsGroupPolicy ${s.fsGroupPolicy}`);
  if (s.podInfoOnMount !== false) p.push(`podInfoOnMount ${s.podInfoOnMount}`);
  if (JSON.stringify(s.volumeLifecycleModes) !== '["Persistent"]') p.push("volumeLifecycleModes");
  return p;
});

check(`${label}: storage capacity: CSIDriver, provisioner, node and controller agree`, () => {
  const p = [];
  const d = ofKind("CSIDriver")[0];
  const on = d?.spec?.storageCapacity === true;
  const dep = ofKind("Deployment")[0];
  const ds = ofKind("DaemonSet")[0];
  const prov = dep && containersOf(dep).find((c) => c.name === "csi-provisioner");
  const ctl = dep && containersOf(dep).find((c) => c.name === "driver");
  const nd = ds && containersOf(ds).find((c) => c.name === "driver");
  const has = (c, a) => (c?.args || []).some((x) => x === a || x.startsWith(a + "="));
  if (has(prov, "--enable-capacity") !== on) p.push(`storageCapacity ${on} but provisioner --enable-capacity ${has(prov, "--enable-capacity")}`);
  if (has(ctl, "--capacity-namespace") !== on) p.push("controller driver --capacity-namespace disagrees");
  if (has(nd, "--capacity-namespace") !== on) p.push("node driver --capacity-namespace disagrees");
  if (on) {
    const roles = ofKind("Role").flatMap((r) => (r.rules || []).map((x) => ({ r, x })));
    const can = (group, res, verb) => roles.some(({ x }) => (x.apiGroups || []).includes(group) && (x.resources || []).includes(res) && (x.verbs || []).includes(verb));
    if (!can("storage.k8s.io", "csistoragecapacities", "create")) p.push("no Role lets the provisioner create CSIStorageCapacity");
    if (!can("coordination.k8s.io", "leases", "patch")) p.push("no Role lets privd apply its capacity Lease");
    if (ofKind("ClusterRole").some((r) => (r.rules || []).some((x) => (x.resources || []).includes("csistoragecapacities") || (x.resources || []).includes("leases"))))
      p.push("capacity objects or Leases granted cluster-wide");
  }
  return p;
});

check(`${label}: Go-driver host watchdog stays inert (argv and container names)`, () => {
  const p = [];
  const drv = containersOf(node).find((c) => c.name === "driver");
  const argv = [...(drv.command || []), ...(drv.args || [])].join(" ");
  if (!argv.includes("lukscryptwalker-csi --endpoint=unix:///csi/csi.sock"))
    p.push(`node argv "${argv.slice(0, 80)}..." does not contain the watchdog's pattern`);
  for (const { where, c } of allContainers())
    if (/lukscryptwalker-csi/.test(c.name)) p.push(`${where}: container name matches the watchdog's crictl filter`);
  return p;
});

check(`${label}: StorageClasses use the driver and the Go driver's parameter names`, () => {
  const p = [];
  const known = new Set([
    "csi.storage.k8s.io/node-stage-secret-name", "csi.storage.k8s.io/node-stage-secret-namespace",
    "csi.storage.k8s.io/provisioner-secret-name", "csi.storage.k8s.io/provisioner-secret-namespace",
    "passphrase-secret-name", "passphrase-secret-namespace", "passphraseKey", "fsType", "fs-mode",
    "fsGroup", "storage-backend", "s3-secret-name", "s3-secret-namespace", "s3-path-prefix",
    "rclone-vfs-cache-mode", "rclone-vfs-cache-max-age", "rclone-vfs-cache-max-size",
    "rclone-vfs-cache-poll-interval", "rclone-vfs-write-back", "rclone-dir-cache-time",
    "rclone-attr-timeout", "rclone-vfs-read-chunk-streams",
  ]);
  for (const sc of ofKind("StorageClass")) {
    const params = sc.parameters || {};
    if (sc.provisioner !== DRIVER) p.push(`${sc.metadata.name} provisioner ${sc.provisioner}`);
    const s3 = params["storage-backend"] === "s3";
    if (!s3 && sc.volumeBindingMode !== "WaitForFirstConsumer") p.push(`${sc.metadata.name} binding mode`);
    if (!params.passphraseKey) p.push(`${sc.metadata.name} has no passphraseKey`);
    const viaKubelet = "csi.storage.k8s.io/node-stage-secret-name" in params;
    const viaDriver = "passphrase-secret-name" in params;
    if (viaKubelet === viaDriver) p.push(`${sc.metadata.name}: exactly one passphrase source wanted`);
    if (s3 && params["csi.storage.k8s.io/provisioner-secret-name"] !== params["s3-secret-name"])
      p.push(`${sc.metadata.name}: provisioner secret is not the S3 secret`);
    if (sc.metadata.labels?.["app.kubernetes.io/managed-by"] && !sc.metadata.annotations)
      p.push(`${sc.metadata.name}: no annotations`);
    for (const k of Object.keys(params))
      if (k.startsWith("csi.storage.k8s.io/") && !known.has(k)) p.push(`${sc.metadata.name}: ${k}`);
  }
  return p;
});

check(`${label}: chart-made Secrets are kept on uninstall`, () =>
  ofKind("Secret")
    .filter((s) => s.metadata.annotations?.["helm.sh/resource-policy"] !== "keep")
    .map((s) => `${id(s)} lacks helm.sh/resource-policy: keep`)
);

// ---- report ------------------------------------------------------------------
for (const [name, problems] of results) {
  if (problems.length === 0) console.log(`ok - ${name}`);
  else console.log(`not ok - ${name}: ${problems.slice(0, 8).join("; ")}${problems.length > 8 ? ` (+${problems.length - 8} more)` : ""}`);
}
