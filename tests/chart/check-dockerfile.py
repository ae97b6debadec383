"""Static checks of the Dockerfile (no container engine needed).

    python3 check-dockerfile.py DOCKERFILE BIN_DIR

BIN_DIR holds the two binaries built from exactly the sources the build
stage copies (run.sh builds them). Prints "ok - NAME" / "not ok - NAME:
DETAIL" lines; the runtime stage must provide every shared library the
binaries link and every program privd's spawner executes, from Debian
packages, and nothing that lets a process gain privileges.
"""
import os
import re
import shlex
import subprocess
import sys

dockerfile, bin_dir = sys.argv[1], sys.argv[2]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
results = []


def check(name, problems):
    results.append((name, [p for p in problems if p]))


def instructions(text):
    """(keyword, argument) pairs; continuation lines joined, comment and
    empty lines dropped (also inside a continued instruction, as Docker does)."""
    out, cur = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            cur += line[:-1] + " "
            continue
        cur += line
        kw, _, arg = cur.partition(" ")
        out.append((kw.upper(), arg.strip()))
        cur = ""
    return out


text = open(dockerfile).read()
ins = instructions(text)
args = {}
stages = []  # list of lists of instructions
for kw, arg in ins:
    if kw == "ARG" and not stages:
        k, _, v = arg.partition("=")
        args[k] = v
    if kw == "FROM":
        stages.append([])
    if stages:
        stages[-1].append((kw, arg))


def expand(s):
    return re.sub(r"\$\{?([A-Za-z_]+)\}?", lambda m: args.get(m.group(1), m.group(0)), s)


# ---- structure --------------------------------------------------------------
p = []
if len(stages) < 2:
    p.append(f"{len(stages)} stage(s), want a build and a runtime stage")
for st in stages:
    base = expand(st[0][1].split()[0])
    if not re.fullmatch(r"debian:(12|bookworm)(-slim)?(@sha256:[a-f0-9]{64})?", base):
        p.append(f"base image {base} is not Debian 12")
check("Dockerfile: multi-stage, every stage on Debian 12", p)

runtime = stages[-1] if stages else []
users = [a for k, a in runtime if k == "USER"]
p = []
if not users:
    p.append("runtime stage sets no USER")
elif users[-1].split(":")[0] in ("0", "root"):
    p.append(f"final USER {users[-1]}")
entry = [a for k, a in runtime if k == "ENTRYPOINT"]
if not entry or "/usr/local/bin/lukscryptwalker-csi" not in entry[-1]:
    p.append("ENTRYPOINT is not /usr/local/bin/lukscryptwalker-csi")
copies = " ".join(a for k, a in runtime if k == "COPY")
for b in ("lukscryptwalker-csi", "lcw-frontend"):
    if b not in copies or "/usr/local/bin/" not in copies:
        p.append(f"{b} not copied to /usr/local/bin (the frontend must sit next to privd)")
check("Dockerfile: runtime runs as non-root by default, both binaries in /usr/local/bin", p)

runs = [a for k, a in runtime if k == "RUN"]
pkgs = []
for r in runs:
    m = re.search(r"apt-get install ([^&;|]*)", r)
    if m:
        pkgs += [w for w in shlex.split(m.group(1)) if not w.startswith("-")]
p = []
if not pkgs:
    p.append("no apt-get install in the runtime stage")
for bad in ("curl", "wget", "sudo", "openssh-client", "build-essential", "gcc", "make", "util-linux-extra", "bash-completion"):
    if bad in pkgs:
        p.append(f"runtime installs {bad}")
if "--no-install-recommends" not in " ".join(runs):
    p.append("apt-get install without --no-install-recommends")
if not any("perm /6000" in r or "perm -4000" in r for r in runs):
    p.append("set-id bits are not removed")
if any("rm -rf /var/lib/apt/lists" not in r for r in runs if "apt-get install" in r):
    p.append("apt lists left in the image")
check("Dockerfile: runtime stage has only runtime packages, no set-id programs", p)

# ---- packages exist and cover the binaries' needs ---------------------------
closure = set()
p = []
try:
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
         "--no-breaks", "--no-replaces", "--no-enhances", *pkgs],
        capture_output=True, text=True, timeout=120)
    closure = {l.strip() for l in out.stdout.splitlines() if l and not l.startswith(" ")}
    missing = [x for x in pkgs if x not in closure]
    if missing or out.returncode != 0:
        p.append(f"apt-cache does not know {missing or pkgs} (run apt-get update?) {out.stderr.strip()[:200]}")
except (OSError, subprocess.TimeoutExpired) as e:
    p.append(f"apt-cache: {e}")
check(f"Dockerfile: the {len(pkgs)} runtime packages exist in Debian", p)


def owner(path):
    """Debian package owning a file, trying the usr-merged alternatives."""
    real = os.path.realpath(path)
    for cand in dict.fromkeys((path, real, real.removeprefix("/usr"), "/usr" + real)):
        r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()
    return None


p = []
for b in ("lukscryptwalker-csi", "lcw-frontend"):
    path = os.path.join(bin_dir, b)
    if not os.access(path, os.X_OK):
        p.append(f"{path} was not built")
        continue
    ldd = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    for line in ldd.splitlines():
        m = re.search(r"=>\s+(/\S+)", line)
        if not m:
            continue
        pkg = owner(m.group(1))
        if pkg is None:
            p.append(f"{b}: no Debian package owns {m.group(1)}")
        elif pkg.split(":")[0] not in closure:
            p.append(f"{b}: {os.path.basename(m.group(1))} ({pkg}) not installed by the runtime stage")
check("Dockerfile: runtime packages provide every library both binaries link", p)

p = []
spawner = open(os.path.join(ROOT, "privd", "spawner.c")).read()
tools = sorted(set(re.findall(r'"(/(?:usr/)?s?bin/[A-Za-z0-9._-]+)"', spawner)))
if not tools:
    p.append("no tool paths found in privd/spawner.c")
for t in tools:
    pkg = owner(t)
    if pkg is None:
        p.append(f"{t}: not installed on this machine, cannot tell its package")
    elif pkg not in closure:
        p.append(f"{t} ({pkg}) not installed by the runtime stage")
check(f"Dockerfile: runtime provides the programs privd's spawner runs ({', '.join(os.path.basename(t) for t in tools)})", p)

for name, problems in results:
    if problems:
        print(f"not ok - {name}: {'; '.join(problems[:6])}")
    else:
        print(f"ok - {name}")
