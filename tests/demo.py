"""The driver's main job on a safe local default: a full encrypted volume
lifecycle through the real CSI sockets, as the CSI sidecars and kubelet
would drive it. Everything lives in a scratch directory (backing files,
a stand-in kubelet root); nothing outside it is touched.

Needs device-mapper: tests/demo.sh runs this inside the qemu VM of
tests/vm when the host has none."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "e2e"))
from lcw_e2e import (NODE, TOPO_KEY, Env, cleanup_env, csi_pb2, luks_dump, mount_cap,  # noqa
                     mount_of, sha256_file, statvfs_size, write_random)

MIB = 1 << 20
PASS = "demo passphrase (never logged)"


def step(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main():
    env = Env()
    node = env.node_driver(kdf=())  # the driver's own pinned KDF parameters
    ctrl = env.controller_driver()
    vol = "pvc-demo-0001"
    try:
        step(f"node driver up: privd pid {node.proc.pid}, frontend pid {node.frontend_pid()}, "
             f"socket {node.sock}")
        info = node.identity().GetPluginInfo(csi_pb2.GetPluginInfoRequest(), timeout=5)
        step(f"GetPluginInfo: {info.name} {info.vendor_version}")

        v = ctrl.controller().CreateVolume(csi_pb2.CreateVolumeRequest(
            name=vol, capacity_range=csi_pb2.CapacityRange(required_bytes=100 * MIB),
            volume_capabilities=[mount_cap()],
            parameters={"csi.storage.k8s.io/node-stage-secret-name": "luks-secret",
                        "passphraseKey": "passphrase"},
            accessibility_requirements=csi_pb2.TopologyRequirement(
                preferred=[csi_pb2.Topology(segments={TOPO_KEY: NODE})])), timeout=30).volume
        step(f"CreateVolume: {v.volume_id}, {v.capacity_bytes // MIB} MiB, pinned to "
             f"{dict(v.accessible_topology[0].segments)}")

        staging = env.staging(vol)
        node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
            volume_id=vol, staging_target_path=staging, volume_capability=mount_cap(),
            secrets={"passphrase": PASS}, volume_context=dict(v.volume_context)), timeout=600)
        fstype, source, opts = mount_of(staging)
        step(f"NodeStageVolume: backing file {env.backing(vol)} -> LUKS2 -> {source} "
             f"({fstype}, {opts}) at {staging}")
        dump = luks_dump(env.backing(vol))
        keep = [ln.strip() for ln in dump.splitlines()
                if ln.strip().startswith(("Version", "cipher:", "sector:", "PBKDF:", "Memory:"))]
        step("LUKS header: " + "; ".join(dict.fromkeys(keep)))

        target = env.target(vol)
        node.node().NodePublishVolume(csi_pb2.NodePublishVolumeRequest(
            volume_id=vol, staging_target_path=staging, target_path=target,
            volume_capability=mount_cap()), timeout=60)
        step(f"NodePublishVolume: bind-mounted into the pod directory {target}")
        digest = write_random(os.path.join(target, "data.bin"), 16 * MIB)
        step(f"pod writes 16 MiB, sha256 {digest[:16]}...")
        marker = b"LCW-DEMO-PLAINTEXT-MARKER-" * 4096
        with open(os.path.join(target, "marker.txt"), "wb") as f:
            f.write(marker)
            os.fsync(f.fileno())
        with open(env.backing(vol), "rb") as f:
            raw = f.read()
        step("the backing file holds ciphertext only: a 100 KiB plaintext marker the pod "
             f"wrote is {'FOUND' if marker[:64] in raw else 'not found'} in it")
        if marker[:64] in raw:
            raise SystemExit("plaintext reached the backing file")

        s = node.node().NodeGetVolumeStats(csi_pb2.NodeGetVolumeStatsRequest(
            volume_id=vol, volume_path=target), timeout=30)
        b = [u for u in s.usage if u.unit == csi_pb2.VolumeUsage.BYTES][0]
        step(f"NodeGetVolumeStats: {b.used // MIB} MiB used of {b.total // MIB} MiB, "
             f"condition: {s.volume_condition.message}")

        before = statvfs_size(target)
        node.node().NodeExpandVolume(csi_pb2.NodeExpandVolumeRequest(
            volume_id=vol, volume_path=target,
            capacity_range=csi_pb2.CapacityRange(required_bytes=200 * MIB)), timeout=600)
        step(f"NodeExpandVolume online: file system {before // MIB} MiB -> "
             f"{statvfs_size(target) // MIB} MiB while mounted")

        node.node().NodeUnpublishVolume(csi_pb2.NodeUnpublishVolumeRequest(
            volume_id=vol, target_path=target), timeout=60)
        node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
            volume_id=vol, staging_target_path=staging), timeout=60)
        step("NodeUnpublishVolume + NodeUnstageVolume: unmounted, mapping closed, loop "
             "detached")
        node.node().NodeStageVolume(csi_pb2.NodeStageVolumeRequest(
            volume_id=vol, staging_target_path=staging, volume_capability=mount_cap(),
            secrets={"passphrase": PASS}, volume_context=dict(v.volume_context)), timeout=600)
        again = sha256_file(os.path.join(staging, "data.bin"))
        step(f"staged again: data {'intact' if again == digest else 'CHANGED'} "
             f"(sha256 {again[:16]}...)")
        node.node().NodeUnstageVolume(csi_pb2.NodeUnstageVolumeRequest(
            volume_id=vol, staging_target_path=staging), timeout=60)
        ops = [r["op"] for r in node.audit_records()]
        step(f"audit log {node.audit}: {len(ops)} records, e.g. "
             f"{', '.join(dict.fromkeys(o for o in ops if o != 'child_exit'))}")
        ok = again == digest and PASS not in node.output()
    finally:
        node.stop()
        ctrl.stop()
        cleanup_env(env)
    step("done: " + ("full encrypted lifecycle OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
