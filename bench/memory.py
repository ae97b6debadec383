"""Peak memory while staging many volumes at once, and the KDF budget.

One node driver with argon2id at `kdf_mem` KiB and --kdf-budget-mib
`budget_mib`, so budget/kdf_mem unlocks fit at once (4 with the defaults
here). `count` NodeStageVolume calls for distinct new volumes are fired
concurrently. A sampler reads VmRSS of privd (its worker threads are in
the same process), the spawner and the frontend every `interval` seconds;
their sum is the driver's resident memory. Tools the spawner runs (mkfs)
are separate short-lived processes and are reported apart.

The budget holds if the peak sum stays within the idle sum plus the budget
plus a slack fixed in advance at half of one KDF cost: a single KDF run
over the budget would exceed it. Independently, the audit log's
luks_format and luks_open records (end time and duration) give how many
KDF operations ever overlapped, which must not exceed budget/kdf_mem."""
import threading
import time
import uuid

from common import (MIB, Layout, audit_start_end, children, cleanup, log, proc_kib, stage_req,
                    unstage_req)

import grpc

# A level of KDF concurrency counts as reached when held this long. The
# audit record of a KDF step ends after its budget share is released (the
# end time is read in audit_write), so a waiting unlock can start a few
# milliseconds (or, on an overloaded emulated guest, tens of milliseconds)
# before the record it replaces ends. A KDF run itself lasts seconds.
SUSTAINED = 0.1


class Sampler(threading.Thread):
    def __init__(self, pids, spawner, frontend, interval):
        super().__init__(daemon=True)
        self.pids, self.spawner, self.frontend = pids, spawner, frontend
        self.interval = interval
        self.samples = []  # (t, {name: kib}, tools_kib)
        self.stop_ev = threading.Event()

    def sample(self):
        per = {n: proc_kib(p, "VmRSS") or 0 for n, p in self.pids.items()}
        tools = 0
        try:
            for k in children(self.spawner):
                if k != self.frontend:
                    tools += proc_kib(k, "VmRSS") or 0
        except FileNotFoundError:
            pass
        self.samples.append((time.monotonic(), per, tools))

    def run(self):
        nxt = time.monotonic()
        while not self.stop_ev.is_set():
            self.sample()
            nxt += self.interval
            self.stop_ev.wait(max(0.0, nxt - time.monotonic()))

    def stop(self):
        self.stop_ev.set()
        self.join()


def total(s):
    return sum(s[1].values())


def overlap(intervals, limit, sustained):
    """Concurrency of intervals: the largest number open at once, the
    largest held for at least `sustained` seconds, and the episodes in which
    more than `limit` were open (start, length)."""
    ev = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                key=lambda x: (x[0], x[1]))
    raw = held = cur = 0
    episodes, ep_start = [], None
    for i, (t, d) in enumerate(ev):
        cur += d
        raw = max(raw, cur)
        nxt = ev[i + 1][0] if i + 1 < len(ev) else t
        if nxt - t >= sustained:
            held = max(held, cur)
        if cur > limit and ep_start is None:
            ep_start = t
        elif cur <= limit and ep_start is not None:
            episodes.append((ep_start, t - ep_start))
            ep_start = None
    return raw, held, episodes


def bench(scratch, count=20, vol_mib=64, kdf_mem=65536, kdf_iter=4, budget_mib=256,
          interval=0.05):
    lay = Layout(scratch, "mem")
    drv = None
    vols = [f"bench-mem-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(count)]
    warm = f"bench-mem-warm-{uuid.uuid4().hex[:6]}"
    out = {"count": count, "vol_mib": vol_mib, "kdf_mem": kdf_mem, "kdf_iter": kdf_iter,
           "budget_mib": budget_mib, "interval": interval}
    try:
        drv = lay.node_driver(kdf_mem, kdf_iter, budget_mib)
        node = drv.node()
        pids = {"privd": drv.proc.pid, "spawner": drv.spawner_pid(), "frontend": drv.frontend_pid()}
        sam = Sampler(pids, pids["spawner"], pids["frontend"], interval)

        time.sleep(1.0)
        for _ in range(20):
            sam.sample()
            time.sleep(interval)
        out["cold_idle"] = max(total(s) for s in sam.samples)
        # One stage and unstage first, so code and library pages every stage
        # touches are resident before the baseline is taken.
        node.NodeStageVolume(stage_req(lay, warm, vol_mib * MIB), timeout=900)
        node.NodeUnstageVolume(unstage_req(lay, warm), timeout=300)
        time.sleep(1.0)
        sam.samples = []
        for _ in range(20):
            sam.sample()
            time.sleep(interval)
        idle = sam.samples
        out["idle"] = max(total(s) for s in idle)
        out["idle_per"] = {n: max(s[1][n] for s in idle) for n in pids}
        log(f"memory: idle RSS {out['idle'] / 1024:.1f} MiB "
            f"(cold {out['cold_idle'] / 1024:.1f} MiB)")

        sam.samples = []
        sam.start()
        results = {}

        def one(vol):
            t0 = time.monotonic()
            try:
                node.NodeStageVolume(stage_req(lay, vol, vol_mib * MIB), timeout=900)
                results[vol] = ("OK", time.monotonic() - t0, "")
            except grpc.RpcError as e:
                results[vol] = (e.code().name, time.monotonic() - t0, e.details())

        t0 = time.monotonic()
        ths = [threading.Thread(target=one, args=(v,)) for v in vols]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        out["wall"] = time.monotonic() - t0
        time.sleep(0.5)
        sam.stop()
        out["hwm_per"] = {n: proc_kib(p, "VmHWM") for n, p in pids.items()}
        samples = sam.samples
        out["nsamples"] = len(samples)
        out["span"] = samples[-1][0] - samples[0][0] if len(samples) > 1 else 0
        peak = max(samples, key=total)
        out["peak"] = total(peak)
        out["peak_per"] = peak[1]
        out["peak_tools"] = max(s[2] for s in samples)
        out["results"] = results
        failed = {v: r for v, r in results.items() if r[0] != "OK"}
        out["failed"] = failed
        log(f"memory: {count - len(failed)}/{count} stages OK in {out['wall']:.1f} s, "
            f"peak RSS {out['peak'] / 1024:.1f} MiB")
        if failed:
            log("FAILED stages:\n" + "\n".join(f"  {v}: {c} after {t:.1f} s: {d}"
                                               for v, (c, t, d) in failed.items()))
            log("driver output (tail):\n" + drv.output()[-6000:])

        recs = [r for r in drv.audit_records()
                if r.get("volume_id") in results and r["op"] in ("luks_format", "luks_open")]
        out["kdf_ops"] = {op: sum(1 for r in recs if r["op"] == op and r["result"] == "ok")
                          for op in ("luks_format", "luks_open")}
        out["kdf_errors"] = [r for r in recs if r["result"] != "ok"]
        fit = budget_mib * 1024 // kdf_mem
        out["kdf_overlap_raw"], out["kdf_overlap"], eps = overlap(
            [audit_start_end(r) for r in recs], fit, SUSTAINED)
        out["kdf_episodes"] = [length for _, length in eps]
        durs = sorted(r["duration_ms"] / 1000.0 for r in recs)
        out["kdf_dur"] = (durs[0], durs[len(durs) // 2], durs[-1]) if durs else (0, 0, 0)

        bad = []
        for v in vols:
            if results[v][0] == "OK":
                try:
                    node.NodeUnstageVolume(unstage_req(lay, v), timeout=300)
                except grpc.RpcError as e:
                    bad.append(f"{v}: {e.code().name}: {e.details()}")
        out["unstage_failures"] = bad
        rc = drv.stop()
        out["driver_rc"] = rc
        if rc != 0:
            log("driver exit status on SIGTERM: %d\n%s" % (rc, drv.output()[-4000:]))
        drv = None
    except Exception:
        if drv is not None:
            log("driver output (tail):\n" + drv.output()[-6000:])
        raise
    finally:
        if drv is not None:
            drv.stop()
        cleanup(lay.base, "luks-bench-mem-")
    return out


def report(r):
    mib = lambda k: k / 1024.0  # noqa: E731
    budget = r["budget_mib"] * 1024
    slack = r["kdf_mem"] // 2
    fit = budget // r["kdf_mem"]
    limit = r["idle"] + budget + slack
    holds = r["peak"] <= limit
    ok = r["count"] - len(r["failed"])
    per = r["peak_per"]
    eps = r["kdf_episodes"]
    L = [f"### Memory: {r['count']} concurrent NodeStageVolume calls "
         f"({r['vol_mib']} MiB volumes, argon2id {r['kdf_mem']} KiB / {r['kdf_iter']} "
         f"iterations, --kdf-budget-mib {r['budget_mib']}: {fit} KDF runs fit)",
         "",
         "| measure | value |",
         "|---|---:|",
         f"| stages succeeded | {ok} / {r['count']} (all done in {r['wall']:.1f} s) |",
         f"| idle RSS privd + spawner + frontend (after one warm-up stage) | "
         f"{mib(r['idle']):.1f} MiB |",
         f"| peak RSS privd + spawner + frontend | {mib(r['peak']):.1f} MiB |",
         f"| peak - idle | {mib(r['peak'] - r['idle']):.1f} MiB |",
         f"| idle + budget + slack ({mib(slack):.0f} MiB) | {mib(limit):.1f} MiB |",
         f"| **budget holds** (peak <= idle + budget + slack) | **{'yes' if holds else 'NO'}**, "
         f"peak / (idle + budget) = **{r['peak'] / (r['idle'] + budget):.2f}** |",
         f"| peak concurrent KDF runs (audit log, held >= {SUSTAINED * 1000:.0f} ms) | "
         f"**{r['kdf_overlap']}** (limit {fit}) |",
         f"| brief overlaps above the limit (audit log, hand-offs) | {len(eps)}"
         + (f", longest {max(eps) * 1000:.0f} ms, max level {r['kdf_overlap_raw']}" if eps else "")
         + " |",
         f"| KDF runs recorded | {r['kdf_ops']['luks_format']} luks_format + "
         f"{r['kdf_ops']['luks_open']} luks_open, {len(r['kdf_errors'])} failed; "
         f"duration min/median/max {r['kdf_dur'][0]:.1f} / {r['kdf_dur'][1]:.1f} / "
         f"{r['kdf_dur'][2]:.1f} s |",
         "",
         f"At the peak sample: privd {mib(per['privd']):.1f} MiB, spawner "
         f"{mib(per['spawner']):.1f} MiB, frontend {mib(per['frontend']):.1f} MiB. "
         f"Idle: " + ", ".join(f"{n} {mib(v):.1f} MiB" for n, v in r["idle_per"].items())
         + f" (cold start, before any call: {mib(r['cold_idle']):.1f} MiB in all). "
         f"VmHWM at the end: " + ", ".join(f"{n} {mib(v or 0):.1f} MiB"
                                           for n, v in r["hwm_per"].items())
         + f". Largest RSS of mkfs children at one sample (not counted above): "
         f"{mib(r['peak_tools']):.1f} MiB. {r['nsamples']} samples over {r['span']:.1f} s "
         f"(every {r['interval'] * 1000:.0f} ms requested)."]
    if r["failed"]:
        L += ["", "**Failed stages:**", ""]
        L += [f"- `{v}`: {c} after {t:.1f} s: {d}" for v, (c, t, d) in r["failed"].items()]
    if r["unstage_failures"]:
        L += ["", "**Failed unstages:**", ""] + [f"- {x}" for x in r["unstage_failures"]]
    if r.get("driver_rc"):
        L += ["", f"**Driver exit status on SIGTERM: {r['driver_rc']}**"]
    return "\n".join(L) + "\n"
