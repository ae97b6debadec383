

def test_pod_that_cannot_be_repaired_makes_the_volume_abnormal(node, env, s3):
    """The pod's view sits on a shared mount (a mount there would
    propagate to its peers): privd leaves it alone and NodeGetVolumeStats
    reports the volume abnormal, saying why, instead of healthy."""
    vol = volid()
    stage(node, env, vol, s3_ctx())
    st, t = env.staging(vol), env.target(vol)
    publish(node, env, vol, t)
    write_file(os.path.join(t, "before.txt"), b"written before the kill")
    top = os.path.join(env.base, "pod-" + vol)
    os.makedirs(top, exist_ok=True)
    view = os.path.join(top, "data")
    pod = Pod.__new__(Pod)
    pod.view = view
    pod.p = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount -t tmpfs lcw-pod "$2" && mount --make-shared "$2" && mkdir "$2/data" && '
         'mount --bind "$1" "$2/data" && exec /usr/bin/python3 -u -c "$3" "$2/data"', "sh",
         t, top, POD_SCRIPT],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert pod.read("before.txt") == b"written before the kill"
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
    finally:
        pod.stop()
    unpublish(node, vol, t)
    unstage(node, env, vol)
