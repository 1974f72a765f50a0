#!/usr/bin/env python3
"""Reconciler figures with a 1000-job spec, each beside a baseline from the same run.

    python3 bench/reconcile.py [--jobs 1000]

1. `mrsm diff` when converged (1000 running jobs). Baseline: `mrsm validate` of the
   same file (reading and checking it, no comparison).
2. The watcher converging after a one-line edit of one job: from the edit to the
   watcher's "updated" line (its log stamp), one job touched. Baseline: that job's
   restart by hand (`mrsm stop jobs` + `mrsm start jobs`).
"""
import argparse
import calendar
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MRSM = os.path.join(REPO, "target", "release", "mrsm")


def spec(n, changed=None):
    lines = ["project: big", "jobs:"]
    for i in range(n):
        command = "sleep 601" if i == changed else "sleep 600"
        lines += [f"  job-{i:04}:", f"    command: {command}"]
    return "\n".join(lines) + "\n"


STAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$")


def epoch(stamp):
    """Seconds since the epoch of a UTC RFC 3339 stamp as mrsm writes them (log
    records: milliseconds; `show jobs --json`: up to nanoseconds), so every
    comparison below is between numbers from one parser."""
    m = STAMP.match(stamp)
    if m is None:
        raise ValueError(f"not a UTC RFC 3339 stamp: {stamp!r}")
    whole = calendar.timegm(tuple(int(g) for g in m.groups()[:6]))
    fraction = m.group(7) or "0"
    return whole + int(fraction) / 10 ** len(fraction)


def wait_for_line(path, test, deadline_s=30):
    """The first line of the file at `path` for which `test` holds, waiting for it."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        try:
            with open(path) as f:
                for line in f:
                    if test(line.rstrip("\n")):
                        return line.rstrip("\n")
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting in {path}")


def timed(cmd, env, cwd, runs=5):
    best = None
    for _ in range(runs):
        t0 = time.time()
        subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.time() - t0
        best = took if best is None else min(best, took)
    return best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    n = parser.parse_args().jobs
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    root = tempfile.mkdtemp(prefix="mrsm-bench-root.")
    work = tempfile.mkdtemp(prefix="mrsm-bench-work.")
    env = dict(os.environ, MRSM_ROOT_DIR=root)
    path = os.path.join(work, "mrsm-jobs.yaml")
    try:
        with open(path, "w") as f:
            f.write(spec(n))
        t0 = time.time()
        subprocess.run([MRSM, "up", "-d"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
        up = time.time() - t0
        diff = timed([MRSM, "diff"], env, work)
        validate = timed([MRSM, "validate"], env, work)
        check = subprocess.run([MRSM, "diff"], env=env, cwd=work, capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout == "", check.stdout

        subprocess.run([MRSM, "up", "-d", "--watch"], env=env, cwd=work, check=True, stdout=subprocess.DEVNULL)
        log = os.path.join(root, "logs", "mrsm-watch-big.log")
        wait_for_line(log, lambda l: " out watching " in l)  # the first pass is done
        target = n // 2
        name = f"job-{target:04}"
        edit = time.time()
        with open(path, "w") as f:
            f.write(spec(n, changed=target))
        line = wait_for_line(log, lambda l: l.endswith(f"out updated {name}"))
        converge = epoch(line.split(" ", 1)[0]) - edit
        jobs = json.loads(subprocess.run([MRSM, "show", "jobs", "--json"], env=env, capture_output=True, text=True).stdout)
        restarted = [j["name"] for j in jobs if j["name"].startswith("job-") and j["began"] and epoch(j["began"]) > edit]
        by_hand = timed([MRSM, "stop", "jobs", "job-0001"], env, work, runs=1) + timed([MRSM, "start", "jobs", "job-0001"], env, work, runs=1)

        print(f"jobs: {n} (goal: watcher converges within 200 ms of an edit, one job touched)")
        print(f"{'measure':<40} {'mrsm':>10} {'baseline':>10} {'ratio':>7}")
        print(f"{'up -d from nothing (s)':<40} {up:>10.2f}")
        print(f"{'diff when converged (ms)':<40} {diff * 1000:>10.1f} {validate * 1000:>10.1f} {diff / validate:>6.2f}x")
        print(f"{'watcher converge after one edit (ms)':<40} {converge * 1000:>10.1f} {by_hand * 1000:>10.1f} {converge / by_hand:>6.2f}x")
        print(f"{'jobs restarted by the edit':<40} {len(restarted):>10}")
    finally:
        subprocess.run([MRSM, "down"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
