"""Stage and unstage latency of a 1 GiB volume: NodeStageVolume /
NodeUnstageVolume through the real driver's CSI socket versus the Go
driver's sequence of CLI calls doing the same work with the same
parameters. Every repetition uses a fresh backing file; the two sides
alternate which goes first."""
import os
import time
import uuid

from common import (GIB, LUKS_FORMAT_OPTS, MKFS_EXT4, MOUNT_OPTS, PASS, Layout, cleanup,
                    fmt_list, log, median, run, settle, stage_req, unstage_req)

STAGE_STEPS = ["create_backing_file", "loop_attach", "luks_format", "luks_open", "mkfs", "mount"]
UNSTAGE_STEPS = ["unmount", "luks_close", "loop_detach"]
CLI_STAGE = ["fallocate", "losetup", "luksFormat", "open", "mkfs.ext4", "mount"]
CLI_UNSTAGE = ["umount", "close", "losetup -d"]


def cli_stage(lay, vol, size, kdf_mem, kdf_iter):
    """The original's sequence. The passphrase goes to cryptsetup on stdin
    without a newline, as the Go driver piped it. Returns per-step seconds."""
    d = os.path.join(lay.cli, vol)
    os.makedirs(d)
    f = os.path.join(d, f"luks-{vol}.img")
    steps = {}

    def step(name, argv, input=None):
        t0 = time.monotonic()
        out = run(argv, input=input)
        steps[name] = time.monotonic() - t0
        return out.strip()

    # The driver creates the backing file inside NodeStageVolume
    # (fallocate), so the baseline does too.
    step("fallocate", ["fallocate", "-l", str(size), f])
    loop = step("losetup", ["losetup", "--direct-io=on", "-f", "--show", f])
    step("luksFormat", ["cryptsetup", "luksFormat", *LUKS_FORMAT_OPTS, "--pbkdf", "argon2id",
                        "--pbkdf-memory", str(kdf_mem), "--pbkdf-force-iterations", str(kdf_iter),
                        "--pbkdf-parallel", "1", loop], input=PASS)
    # The driver opens with the workqueue bypass and without the kernel
    # keyring for the volume key: same dm table here.
    step("open", ["cryptsetup", "open", "--type", "luks2", "--disable-keyring",
                  "--perf-no_read_workqueue", "--perf-no_write_workqueue", loop, f"luks-{vol}"],
         input=PASS)
    step("mkfs.ext4", [*MKFS_EXT4, f"/dev/mapper/luks-{vol}"])
    mp = lay.staging(vol)
    os.makedirs(mp, exist_ok=True)
    step("mount", ["mount", "-t", "ext4", "-o", MOUNT_OPTS, f"/dev/mapper/luks-{vol}", mp])
    return steps, loop, f


def cli_unstage(lay, vol, loop):
    steps = {}
    for name, argv in (("umount", ["umount", lay.staging(vol)]),
                       ("close", ["cryptsetup", "close", f"luks-{vol}"]),
                       ("losetup -d", ["losetup", "-d", loop])):
        t0 = time.monotonic()
        run(argv)
        steps[name] = time.monotonic() - t0
    return steps


def driver_steps(drv, vol, names):
    out = {}
    for r in drv.audit_records():
        if r.get("volume_id") == vol and r["op"] in names:
            if r["result"] != "ok":
                raise RuntimeError(f"audit: {r}")
            out[r["op"]] = r["duration_ms"] / 1000.0
    return out


def bench(scratch, reps=5, size=GIB, kdf_mem=65536, kdf_iter=4):
    lay = Layout(scratch, "lat")
    drv = None
    res = {"driver_stage": [], "driver_unstage": [], "cli_stage": [], "cli_unstage": [],
           "driver_steps": {k: [] for k in STAGE_STEPS + UNSTAGE_STEPS},
           "cli_steps": {k: [] for k in CLI_STAGE + CLI_UNSTAGE}}
    try:
        drv = lay.node_driver(kdf_mem, kdf_iter)
        node = drv.node()
        for i in range(reps):
            order = ("driver", "cli") if i % 2 == 0 else ("cli", "driver")
            for side in order:
                vol = f"bench-lat-{i}-{side}-{uuid.uuid4().hex[:6]}"
                if side == "driver":
                    settle()
                    t0 = time.monotonic()
                    node.NodeStageVolume(stage_req(lay, vol, size), timeout=900)
                    st = time.monotonic() - t0
                    settle()
                    t0 = time.monotonic()
                    node.NodeUnstageVolume(unstage_req(lay, vol), timeout=300)
                    un = time.monotonic() - t0
                    for k, v in driver_steps(drv, vol, STAGE_STEPS + UNSTAGE_STEPS).items():
                        res["driver_steps"][k].append(v)
                    os.remove(lay.backing(vol))
                    os.rmdir(os.path.dirname(lay.backing(vol)))
                else:
                    settle()
                    t0 = time.monotonic()
                    steps, loop, f = cli_stage(lay, vol, size, kdf_mem, kdf_iter)
                    st = time.monotonic() - t0
                    settle()
                    t0 = time.monotonic()
                    steps.update(cli_unstage(lay, vol, loop))
                    un = time.monotonic() - t0
                    for k, v in steps.items():
                        res["cli_steps"][k].append(v)
                    os.remove(f)
                    os.rmdir(os.path.dirname(f))
                res[f"{side}_stage"].append(st)
                res[f"{side}_unstage"].append(un)
                log(f"latency rep {i + 1}/{reps} {side}: stage {st:.2f} s, unstage {un:.2f} s")
        rc = drv.stop()
        drv = None
        if rc != 0:
            raise RuntimeError(f"driver exited {rc} on SIGTERM")
    except Exception:
        if drv is not None:
            log("driver output (tail):\n" + drv.output()[-4000:])
        raise
    finally:
        if drv is not None:
            drv.stop()
        cleanup(lay.base, "luks-bench-lat-")
    res.update(reps=reps, size=size, kdf_mem=kdf_mem, kdf_iter=kdf_iter)
    return res


def report(r):
    ds, cs = median(r["driver_stage"]), median(r["cli_stage"])
    du, cu = median(r["driver_unstage"]), median(r["cli_unstage"])
    L = [f"### Stage / unstage latency, {r['size'] // (1 << 20)} MiB volume "
         f"(argon2id {r['kdf_mem']} KiB, {r['kdf_iter']} iterations, {r['reps']} repetitions)",
         "",
         "| operation | driver median (s) | CLI sequence median (s) | driver / CLI |",
         "|---|---:|---:|---:|",
         f"| stage | {ds:.2f} | {cs:.2f} | **{ds / cs:.2f}** |",
         f"| unstage | {du:.2f} | {cu:.2f} | **{du / cu:.2f}** |",
         "",
         "Per repetition (s): driver stage " + fmt_list(r["driver_stage"]) + "; CLI stage "
         + fmt_list(r["cli_stage"]) + "; driver unstage " + fmt_list(r["driver_unstage"])
         + "; CLI unstage " + fmt_list(r["cli_unstage"]) + ".",
         "",
         "Where the time goes (medians, s; driver steps from its audit log, CLI steps are "
         "whole tool runs):",
         "",
         "| step | driver | CLI |",
         "|---|---:|---:|"]
    pairs = list(zip(STAGE_STEPS, CLI_STAGE)) + list(zip(UNSTAGE_STEPS, CLI_UNSTAGE))
    for d, c in pairs:
        L.append(f"| {d} / {c} | {median(r['driver_steps'][d]):.3f} | "
                 f"{median(r['cli_steps'][c]):.3f} |")
    # Per repetition: the whole stage minus its steps, then the median.
    drest = [t - sum(r["driver_steps"][d][i] for d in STAGE_STEPS)
             for i, t in enumerate(r["driver_stage"])]
    crest = [t - sum(r["cli_steps"][c][i] for c in CLI_STAGE)
             for i, t in enumerate(r["cli_stage"])]
    L.append(f"| stage, outside those steps (driver: blkid probes, checks, IPC, gRPC; "
             f"CLI: the harness) | {median(drest):.3f} | {median(crest):.3f} |")
    return "\n".join(L) + "\n"
