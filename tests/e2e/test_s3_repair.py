"""End to end of the repair of pods' views after an S3 re-mount (issue 13
item 4), on real dm-crypt, FUSE, rclone and s3rver: a pod-like process in
its own mount namespace (unshare -m, private propagation, the publish
target bound into it, no propagation from the node) reads the volume; rclone
is SIGKILLed; privd re-mounts the volume on the node and then puts the live
mount in place of the dead one inside that process's namespace, through the
spawner's repair helper. The process is never restarted: the same pid
reads data written after the re-mount.

Runs where device-mapper exists (the VM harness):
    tests/s3/s3rver.sh install
    tests/vm/vm-run.sh --timeout 1500 --env ASAN_OPTIONS=detect_leaks=0 -- \\
        env LCW_BIN_DIR=$PWD/build/bin /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
        tests/e2e/test_s3_repair.py
"""
import glob
import json
import os
import signal
import subprocess
import uuid

import pytest

from lcw_e2e import NODE, volid
# the S3 end-to-end fixtures and helpers: one driver, s3rver, the API stand-in
from test_s3_lifecycle import (RECOVERY_S, diag, env, healthy, kube, node,  # noqa: F401
                               publish, pytest_generate_tests, rclone_pids, release_after_failure,
                               s3, s3_ctx, stage,
                               stats, unpublish, unstage, wait_for, write_file)

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/mapper/control"),
                                reason="no device-mapper here (run through tests/vm/vm-run.sh)")

# The "pod": answers each name on stdin with the file's bytes (hex) as it
# reads them through its own view of the volume, or the errno.
POD_SCRIPT = r"""
import os, sys
view = sys.argv[1]
for line in sys.stdin:
    name = line.strip()
    try:
        with open(os.path.join(view, name), "rb") as f:
            print("OK " + f.read().hex(), flush=True)
    except OSError as e:
        print("ERR %d" % e.errno, flush=True)
"""


class Pod:
    """A process in its own mount namespace with the publish target bound
    at view: what a container without mountPropagation sees."""

    def __init__(self, target, view):
        os.makedirs(view, exist_ok=True)
        self.view = view
        self.p = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             'mount --bind "$1" "$2" && exec /usr/bin/python3 -u -c "$3" "$2"', "sh",
             target, view, POD_SCRIPT],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self, name):
        self.p.stdin.write(name + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().split()
        assert line, f"the pod process exited: {self.p.poll()}"
        return bytes.fromhex(line[1]) if line[0] == "OK" else int(line[1])

    def mount_at_view(self):
        """(device, fstype, source) of the top mount at the view, in the
        pod's namespace."""
        found = None
        with open(f"/proc/{self.p.pid}/mountinfo") as f:
            for m in (line.split() for line in f):
                if m[4] == self.view:
                    sep = m.index("-")
                    found = (m[2], m[sep + 1], m[sep + 2])
        return found

    def stop(self):
        self.p.kill()
        self.p.wait(10)


def into_pod_cgroup(pid, uid):
    """Move pid into the cgroup kubelet's systemd driver makes for a
    BestEffort pod's container, so /proc/<pid>/cgroup names the pod UID as
    on a real node. Returns the leaf, for cleanup."""
    u = uid.replace("-", "_")
    leaf = os.path.join("/sys/fs/cgroup", "kubepods.slice", "kubepods-besteffort.slice",
                        f"kubepods-besteffort-pod{u}.slice", "cri-containerd-0123abcd.scope")
    os.makedirs(leaf)
    with open(os.path.join(leaf, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    with open(f"/proc/{pid}/cgroup") as f:
        assert f"pod{u}" in f.read()
    return leaf


def leave_cgroup(pid, leaf):
    try:
        with open("/sys/fs/cgroup/cgroup.procs", "w") as f:
            f.write(str(pid))
    except OSError:
        pass  # gone already
    top = os.path.join("/sys/fs/cgroup", "kubepods.slice")
    while True:
        try:
            os.rmdir(leaf)
        except OSError:
            break
        if leaf == top:
            break
        leaf = os.path.dirname(leaf)


def shared_view_pod(t, top):
    """A pod whose view sits on a shared mount: the repair must refuse it."""
    os.makedirs(top, exist_ok=True)
    pod = Pod.__new__(Pod)
    pod.view = os.path.join(top, "data")
    pod.p = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs lcw-pod "$2" && mount --make-shared "$2" && mkdir "$2/data" && '
         'mount --bind "$1" "$2/data" && exec /usr/bin/python3 -u -c "$3" "$2/data"', "sh",
         t, top, POD_SCRIPT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return pod


def uploaded(node, vol, name):
    """rclone's cache metadata says name is uploaded (not dirty). These
    tests kill rclone after that: an upload cut short is the stranded-write
    rescue's subject (test_s3_stranded.py), not the repair's."""
    metas = glob.glob(os.path.join(node.cache_mount, "vfsMeta", f"{vol}*", name))
    try:
        return len(metas) == 1 and json.load(open(metas[0])).get("Dirty") is False
    except (OSError, ValueError):
        return False


def device_of(path):
    found = None
    with open("/proc/self/mountinfo") as f:
        for m in (line.split() for line in f):
            if m[4] == path:
                found = m[2]
    return found


def repair_events(kube, vol, reason):
    return kube.events_for("apps", f"data-{vol}", reason)


def test_pod_without_propagation_reads_live_data_after_rclone_killed(node, env, kube, s3):
    vol = volid()
    stage(node, env, vol, s3_ctx())
    kube.set_claim(f"pv-{vol}", "apps", f"data-{vol}")
    st, t = env.staging(vol), env.target(vol)
    publish(node, env, vol, t)
    write_file(os.path.join(t, "before.txt"), b"written before the kill")
    pod = Pod(t, os.path.join(env.base, "pod-" + vol, "data"))
    try:
        assert pod.read("before.txt") == b"written before the kill"
        assert os.readlink(f"/proc/{pod.p.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        assert device_of(pod.view) is None, "the pod's bind leaked into the node's namespace"
        old_dev = pod.mount_at_view()[0]

        assert wait_for(lambda: uploaded(node, vol, "before.txt"), RECOVERY_S)
        [old] = rclone_pids(vol)
        os.kill(old, signal.SIGKILL)
        # the node's mounts come back (the existing recovery) ...
        assert wait_for(lambda: healthy(st, vol) and healthy(t, vol), RECOVERY_S), \
            f"not re-mounted\n{diag(node, env, [vol])}"
        write_file(os.path.join(t, "after.txt"), b"written after the re-mount")
        # ... and the pod, never restarted, reads through its own view again
        assert wait_for(lambda: pod.read("after.txt") == b"written after the re-mount",
                        RECOVERY_S), \
            f"the pod still sees {pod.read('after.txt')!r}\n{diag(node, env, [vol])}"
        assert pod.p.poll() is None
        with open(os.path.join(t, "before.txt"), "rb") as f:
            on_node = f.read()
        in_pod = pod.read("before.txt")
        assert in_pod == on_node == b"written before the kill", \
            (in_pod, on_node, sorted(os.listdir(t)), pod.read("after.txt"))
        dev, fstype, source = pod.mount_at_view()
        assert fstype == "fuse.rclone" and dev == device_of(t) and dev != old_dev, \
            (dev, fstype, source, device_of(t), old_dev)
        assert device_of(pod.view) is None, "the repair leaked a mount into the node's namespace"
        assert not stats(node, env, vol, t).volume_condition.abnormal
        assert wait_for(lambda: repair_events(kube, vol, "S3ConsumerRepaired"), 20), kube.events
        [ev] = repair_events(kube, vol, "S3ConsumerRepaired")
        assert ev["type"] == "Normal" and "1 pod(s)" in ev["message"], ev
        assert not repair_events(kube, vol, "S3ConsumerNotRepaired")
    finally:
        pod.stop()
    unpublish(node, vol, t)
    unstage(node, env, vol)


def test_pod_that_cannot_be_repaired_makes_the_volume_abnormal(node, env, kube, s3):
    """The pod's view sits on a shared mount (a mount there would
    propagate to its peers): privd leaves it alone and NodeGetVolumeStats
    reports the volume abnormal, saying why, instead of healthy."""
    vol = volid()
    stage(node, env, vol, s3_ctx())
    kube.set_claim(f"pv-{vol}", "apps", f"data-{vol}")
    st, t = env.staging(vol), env.target(vol)
    publish(node, env, vol, t)
    write_file(os.path.join(t, "before.txt"), b"written before the kill")
    pod = shared_view_pod(t, os.path.join(env.base, "pod-" + vol))
    # a real pod's process, and RBAC that would allow deleting it: without
    # --delete-unrepairable-pods nothing may be deleted all the same
    uid = str(uuid.uuid4())
    kube.set_pod("apps", "db-0", uid, NODE)
    kube.set_rbac("pods", True)
    leaf = None
    try:
        assert pod.read("before.txt") == b"written before the kill"
        leaf = into_pod_cgroup(pod.p.pid, uid)
        assert wait_for(lambda: uploaded(node, vol, "before.txt"), RECOVERY_S)
        [old] = rclone_pids(vol)
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: healthy(st, vol) and healthy(t, vol), RECOVERY_S), \
            f"not re-mounted\n{diag(node, env, [vol])}"

        def reported():
            c = stats(node, env, vol, t).volume_condition
            return c.abnormal and "shared" in c.message

        assert wait_for(reported, RECOVERY_S), \
            f"{stats(node, env, vol, t).volume_condition}\n{diag(node, env, [vol])}"
        assert pod.read("before.txt") == 107  # ENOTCONN: left alone, as reported
        assert pod.p.poll() is None
        assert wait_for(lambda: repair_events(kube, vol, "S3ConsumerNotRepaired"), 20), \
            kube.events
        [ev] = repair_events(kube, vol, "S3ConsumerNotRepaired")
        assert ev["type"] == "Warning" and "1 pod(s)" in ev["message"], ev
        assert kube.deleted_pods == [] and not repair_events(kube, vol, "S3ConsumerPodDeleted")
        assert not any(r.startswith("DELETE ") for r in kube.requests)
    finally:
        kube.set_rbac("pods", False)
        if leaf:
            leave_cgroup(pod.p.pid, leaf)
        pod.stop()
    unpublish(node, vol, t)
    unstage(node, env, vol)


def test_unrepairable_pod_is_deleted_only_with_the_opt_in(node, env, kube, s3):
    """--delete-unrepairable-pods: a pod whose view cannot be repaired (a
    shared mount under it) is deleted through the API, found by the UID in
    its cgroup among this node's pods and deleted with that UID as the
    precondition; another pod of the same name elsewhere and the node's
    other pods stay. The volume is not reported abnormal for a pod that is
    going away, and S3ConsumerPodDeleted says what was done."""
    node.extra = ["--delete-unrepairable-pods"]
    node.stop()
    node.start()
    vol = volid()
    uid, other = str(uuid.uuid4()), str(uuid.uuid4())
    kube.set_pod("apps", "db-0", uid, NODE)
    kube.set_pod("apps", "web-0", other, NODE)
    kube.set_pod("staging", "db-0", str(uuid.uuid4()), "node-b")
    kube.set_rbac("pods", True)
    leaf = None
    pod = None
    try:
        stage(node, env, vol, s3_ctx())
        kube.set_claim(f"pv-{vol}", "apps", f"data-{vol}")
        st, t = env.staging(vol), env.target(vol)
        publish(node, env, vol, t)
        write_file(os.path.join(t, "before.txt"), b"written before the kill")
        pod = shared_view_pod(t, os.path.join(env.base, "pod-" + vol))
        assert pod.read("before.txt") == b"written before the kill"
        leaf = into_pod_cgroup(pod.p.pid, uid)
        assert wait_for(lambda: uploaded(node, vol, "before.txt"), RECOVERY_S)
        [old] = rclone_pids(vol)
        os.kill(old, signal.SIGKILL)
        assert wait_for(lambda: healthy(st, vol) and healthy(t, vol), RECOVERY_S), \
            f"not re-mounted\n{diag(node, env, [vol])}"
        assert wait_for(lambda: kube.deleted_pods, RECOVERY_S), \
            f"{kube.requests[-20:]}\n{diag(node, env, [vol])}"
        assert kube.deleted_pods == [("apps", "db-0", uid)]
        assert wait_for(lambda: repair_events(kube, vol, "S3ConsumerPodDeleted"), 20), kube.events
        [ev] = repair_events(kube, vol, "S3ConsumerPodDeleted")
        assert ev["type"] == "Warning" and "deleted 1 pod(s)" in ev["message"], ev
        assert uid not in ev["message"] and "before.txt" not in ev["message"]
        assert not repair_events(kube, vol, "S3ConsumerNotRepaired")
        cond = stats(node, env, vol, t).volume_condition
        assert not cond.abnormal, f"{cond}\n{diag(node, env, [vol])}"
        # the pod's own process is the kubelet's to stop: privd only asked
        assert pod.p.poll() is None
    finally:
        kube.set_rbac("pods", False)
        if pod is not None:
            if leaf:
                leave_cgroup(pod.p.pid, leaf)
            pod.stop()
        node.extra = []
        node.stop()
        node.start()
    unpublish(node, vol, t)
    unstage(node, env, vol)
