"""Sequential read and write throughput (dd, 1 MiB blocks, O_DIRECT) on
one backing file attached as the driver attaches it (loop, direct I/O):
the raw loop device versus dm-crypt opened as the driver opens it
(no_read_workqueue + no_write_workqueue) versus dm-crypt without those
flags. fio is not among the build host's packages, so dd it is.

All three read and write the same byte range of the same file: the raw
runs skip the 16 MiB LUKS2 header, which is exactly where dm-crypt's data
area starts. The file is fully written once before anything is measured,
so no run pays for converting unwritten extents. The LUKS header uses the
driver's cipher, key size and sector size; its keyslot uses cheap pbkdf2
so the mapping can be reopened with other flags between runs (the KDF
plays no part in I/O)."""
import os
import re
import subprocess

from common import (LUKS_FORMAT_OPTS, MIB, PASS, TOOL_ENV, Layout, cleanup, fmt_list, log,
                    median, run, settle)

HEADER_MIB = 16
CONFIGS = ["raw", "crypt-perf", "crypt-default"]
LABEL = {"raw": "raw loop device (direct I/O)",
         "crypt-perf": "dm-crypt, no_read/no_write_workqueue (as the driver opens it)",
         "crypt-default": "dm-crypt, default workqueues"}


def dd(args):
    """Run dd; bytes/s from its own summary line."""
    p = subprocess.run(["dd", *args], capture_output=True, text=True, env=TOOL_ENV)
    if p.returncode != 0:
        raise RuntimeError(f"dd {' '.join(args)}: {p.stderr.strip()}")
    m = re.search(r"(\d+) bytes .* copied, ([0-9.]+) s", p.stderr)
    if not m:
        raise RuntimeError(f"cannot parse dd output: {p.stderr!r}")
    return int(m.group(1)) / float(m.group(2))


def bench(scratch, reps=3, size_mib=256):
    lay = Layout(scratch, "tp")
    name = "luks-bench-tp"
    f = os.path.join(lay.cli, "tp.img")
    res = {c: {"write": [], "read": []} for c in CONFIGS}
    tables = {}
    loop = None
    try:
        # A fully written file (not fallocate's unwritten extents).
        run(["dd", "if=/dev/zero", f"of={f}", "bs=1M", f"count={HEADER_MIB + size_mib + 16}",
             "conv=fsync", "status=none"])
        loop = run(["losetup", "--direct-io=on", "-f", "--show", f]).strip()
        run(["cryptsetup", "luksFormat", *LUKS_FORMAT_OPTS, "--pbkdf", "pbkdf2",
             "--pbkdf-force-iterations", "1000", loop], input=PASS)
        dump = run(["cryptsetup", "luksDump", loop])
        off = re.search(r"offset:\s+(\d+) \[bytes\]", dump.split("Data segments:")[1])
        if int(off.group(1)) != HEADER_MIB * MIB:
            raise RuntimeError(f"unexpected data offset {off.group(1)}")
        for i in range(reps):
            order = CONFIGS[i % 3:] + CONFIGS[:i % 3]  # rotate who goes first
            for c in order:
                if c == "raw":
                    dev, skip = loop, HEADER_MIB
                else:
                    flags = (["--perf-no_read_workqueue", "--perf-no_write_workqueue"]
                             if c == "crypt-perf" else [])
                    run(["cryptsetup", "open", "--type", "luks2", "--disable-keyring", *flags,
                         loop, name], input=PASS)
                    tables[c] = re.sub(r"\S{64,}", "<key>", run(["dmsetup", "table", name]).strip())
                    dev, skip = f"/dev/mapper/{name}", 0
                settle()
                w = dd(["if=/dev/zero", f"of={dev}", "bs=1M", f"count={size_mib}", f"seek={skip}",
                        "oflag=direct", "conv=fsync,notrunc"])
                settle()
                r = dd([f"if={dev}", "of=/dev/null", "bs=1M", f"count={size_mib}", f"skip={skip}",
                        "iflag=direct"])
                if c != "raw":
                    run(["cryptsetup", "close", name])
                res[c]["write"].append(w / MIB)
                res[c]["read"].append(r / MIB)
                log(f"throughput rep {i + 1}/{reps} {c}: write {w / MIB:.1f} MiB/s, "
                    f"read {r / MIB:.1f} MiB/s")
    finally:
        run(["cryptsetup", "close", name], check=False)
        if loop:
            run(["losetup", "-d", loop], check=False)
        cleanup(lay.base, name)
    return {"reps": reps, "size_mib": size_mib, "res": res, "tables": tables}


def report(r):
    res = r["res"]
    raw_w, raw_r = median(res["raw"]["write"]), median(res["raw"]["read"])
    pw, pr = median(res["crypt-perf"]["write"]), median(res["crypt-perf"]["read"])
    L = [f"### Sequential throughput (dd, 1 MiB blocks, O_DIRECT, {r['size_mib']} MiB per run, "
         f"{r['reps']} repetitions)",
         "",
         "| device | write median (min-max), MiB/s | vs raw | read median (min-max), MiB/s "
         "| vs raw |",
         "|---|---:|---:|---:|---:|"]
    for c in CONFIGS:
        ws, rs = res[c]["write"], res[c]["read"]
        w, rd = median(ws), median(rs)
        L.append(f"| {LABEL[c]} | {w:.1f} ({min(ws):.0f}-{max(ws):.0f}) | **{w / raw_w:.2f}** "
                 f"| {rd:.1f} ({min(rs):.0f}-{max(rs):.0f}) | **{rd / raw_r:.2f}** |")
    dw, dr = median(res["crypt-default"]["write"]), median(res["crypt-default"]["read"])
    L += ["",
          f"Workqueue bypass versus default workqueues: write **{pw / dw:.2f}x**, "
          f"read **{pr / dr:.2f}x**.",
          "",
          "Per repetition (MiB/s): " + "; ".join(
              f"{c} write {fmt_list(res[c]['write'], 1)}, read {fmt_list(res[c]['read'], 1)}"
              for c in CONFIGS) + ".",
          "",
          "dm tables (key elided): " + "; ".join(f"{c}: `{t}`" for c, t in r["tables"].items())
          + "."]
    return "\n".join(L) + "\n"
