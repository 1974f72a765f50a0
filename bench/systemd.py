#!/usr/bin/env python3
"""Jobs as systemd services, measured: start and stop of N jobs (default 50) on
`-e systemd`, against the same by hand with `systemd-run --user` and against
`-e local`, in one run; and the time `mrsm resurrect` takes to bring back 1000
local jobs whose supervisors all died (a power loss).

    sudo python3 bench/systemd.py --mrsm target/release/mrsm
    python3 bench/systemd.py --mrsm target/release/mrsm --reps 5 --jobs 50 --big 1000

Needs root (the user manager runs in a mount namespace and cgroups of its own,
started by tests/systemd/manager.sh, the tests' own script) and systemd installed.
Each workload runs as one shell script inside the manager's namespace, timed there
(`date +%s%N`), so the cost of entering the namespace is paid by none of them. The
order of the three rotates from one repetition to the next.

- start: seconds for N commands, each returning once its job runs: `mrsm run -d
  -e systemd` (a unit written, `enable --now`, the supervisor's `READY=1`), `mrsm
  run -d -e local`, `systemd-run --user --unit=NAME sleep 300` (a transient unit,
  no file, no supervisor).
- stop: seconds for one command stopping all N until they are gone: `mrsm stop
  jobs NAMES…` (each: the supervisor's stop, then `disable --now`), `systemctl
  --user stop UNITS…`.
- resurrect: --big local jobs of `sleep 300` are created with `up -d`, then every
  process of the root gets SIGKILL (by pid, found by its MRSM_ROOT_DIR); seconds for
  `mrsm resurrect` to start them all again, and the count it reports.

Output: medians over the repetitions, the ratios systemd/systemd-run and
systemd/local, and the raw numbers in --out (default target/bench-systemd.json).
Everything it started is stopped at exit, the manager by its pid.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MANAGER = os.path.join(HERE, "..", "tests", "systemd", "manager.sh")


def sh(*args, check=True, **kw):
    return subprocess.run(args, check=check, capture_output=True, text=True, **kw)


class Manager:
    """A user manager of this run's own (tests/systemd/manager.sh)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mrsm-bench-systemd")
        sh(MANAGER, "start", self.dir)

    def script(self, text, env):
        """Runs `sh -c TEXT` inside the namespace with `env`; what it printed."""
        pairs = [f"{k}={v}" for k, v in env.items()]
        out = sh(MANAGER, "run", self.dir, "env", *pairs, "sh", "-c", text)
        return out.stdout

    def stop(self):
        sh(MANAGER, "stop", self.dir, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


TIMED = """
start=$(date +%s%N)
{body}
end=$(date +%s%N)
echo "ELAPSED $(( (end - start) / 1000 ))"
"""


def elapsed(output):
    for line in output.splitlines():
        if line.startswith("ELAPSED "):
            return int(line.split()[1]) / 1e6
    raise RuntimeError(f"no timing in: {output[-500:]}")


def kill_root(root):
    """SIGKILL every process whose MRSM_ROOT_DIR is `root`, by pid."""
    mine = f"MRSM_ROOT_DIR={root}".encode()
    killed = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if mine in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
                    killed += 1
        except OSError:
            pass
    return killed


def one_rep(manager, mrsm, n, order):
    got = {}
    names = " ".join(f"j{i}" for i in range(n))
    units = " ".join(f"bench-j{i}.service" for i in range(n))
    for kind in order:
        root = tempfile.mkdtemp(prefix="mrsm-bench-root")
        env = {
            "XDG_RUNTIME_DIR": os.path.join(manager.dir, "runtime"),
            "XDG_CONFIG_HOME": os.path.join(manager.dir, "config"),
            "MRSM_ROOT_DIR": root,
            "PATH": "/usr/bin:/bin",
        }
        try:
            if kind == "systemd-run":
                start = f"for i in $(seq 0 {n - 1}); do systemd-run --user --quiet --unit=bench-j$i sleep 300 || exit 1; done"
                stop = f"systemctl --user stop {units}"
            else:
                executor = "systemd" if kind == "mrsm systemd" else "local"
                start = f"for i in $(seq 0 {n - 1}); do {mrsm} run -d -e {executor} --name j$i -- sleep 300 >/dev/null || exit 1; done"
                stop = f"{mrsm} stop jobs {names} >/dev/null"
            got[f"{kind} start"] = elapsed(manager.script(TIMED.format(body=start), env))
            got[f"{kind} stop"] = elapsed(manager.script(TIMED.format(body=stop), env))
        finally:
            if kind != "systemd-run":
                manager.script(f"{mrsm} delete jobs -y {names} >/dev/null 2>&1; true", env)
            else:
                manager.script(f"systemctl --user reset-failed {units} >/dev/null 2>&1; true", env)
            kill_root(root)
            shutil.rmtree(root, ignore_errors=True)
    return got


def resurrect(mrsm, big):
    root = tempfile.mkdtemp(prefix="mrsm-bench-resurrect")
    env = dict(os.environ, MRSM_ROOT_DIR=root)
    spec = root + ".yaml"
    try:
        with open(spec, "w") as f:
            f.write("jobs:\n")
            for i in range(big):
                f.write(f"  j{i}:\n    command: sleep 300\n")
        sh(mrsm, "up", "-d", "-f", spec, env=env)
        killed = kill_root(root)
        deadline = time.time() + 30
        while time.time() < deadline and kill_root(root):
            time.sleep(0.05)
        t0 = time.perf_counter()
        out = sh(mrsm, "resurrect", "--json", env=env)
        seconds = time.perf_counter() - t0
        back = len(json.loads(out.stdout))
        return {"seconds": seconds, "jobs back": back, "processes killed": killed}
    finally:
        sh(mrsm, "down", "-f", spec, env=env, check=False)
        kill_root(root)
        shutil.rmtree(root, ignore_errors=True)
        os.unlink(spec)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mrsm", default="target/release/mrsm")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--jobs", type=int, default=50)
    p.add_argument("--big", type=int, default=1000)
    p.add_argument("--out", default="target/bench-systemd.json")
    a = p.parse_args()
    mrsm = os.path.abspath(a.mrsm)
    kinds = ["mrsm systemd", "systemd-run", "mrsm local"]
    manager = Manager()
    runs = []
    try:
        for rep in range(a.reps):
            order = kinds[rep % 3:] + kinds[:rep % 3]
            runs.append(one_rep(manager, mrsm, a.jobs, order))
            print(f"rep {rep + 1}: " + ", ".join(f"{k} {v:.3f}s" for k, v in runs[-1].items()), file=sys.stderr)
    finally:
        manager.stop()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{a.jobs} jobs, median of {a.reps} (seconds; per job in ms)")
    for what in ("start", "stop"):
        s, r, l = (med[f"{k} {what}"] for k in kinds)
        print(f"  {what:5}  systemd {s:.3f} ({s / a.jobs * 1000:.1f})   systemd-run {r:.3f} ({r / a.jobs * 1000:.1f})"
              f"   local {l:.3f} ({l / a.jobs * 1000:.1f})   systemd/systemd-run {s / r:.2f}x   systemd/local {s / l:.2f}x")
    big = resurrect(mrsm, a.big)
    print(f"  resurrect of {a.big} local jobs: {big['seconds']:.2f} s ({big['seconds'] / a.big * 1000:.2f} ms/job), {big['jobs back']} back")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"jobs": a.jobs, "reps": runs, "medians": med, "resurrect": big,
                   "commit": sh("git", "rev-parse", "HEAD", check=False).stdout.strip(),
                   "load": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
