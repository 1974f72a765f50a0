#!/usr/bin/env python3
"""The speed and memory goals of mrsm's local executor, each beside a baseline
measured in the same run (plain processes started and stopped by this script).

    python3 bench/perf.py [--jobs 50] [--big 1000] [--reps 30] [--mrsm PATH]

Prints one line per figure: mrsm's, the baseline's, their ratio, and the goal.
  - `run -d` until the job runs (median and p90 of --reps calls); baseline: this
    script starting a detached `sleep` (subprocess, new session) and `true` to exit.
  - starting --jobs jobs: --jobs sequential `run -d` calls, and one `up -d`; baseline:
    --jobs detached `sleep`s started by this script.
  - stopping them until no process is left: `stop jobs NAMES…` and `down`; baseline:
    SIGTERM to --jobs plain `sleep`s and waiting for all of them.
  - memory: USS (private pages) of one supervisor with --jobs running; baseline: a
    plain `sleep`'s USS.
  - with --big jobs declared: `up -d`, `show jobs --json`, `ps --json`, `diff`, and
    `down`; baseline: `mrsm validate` of the same file (start-up + reading the YAML),
    and `true`.
  - cost per job as the number of jobs grows (--sizes, e.g. 100,500,1000,2000): `up -d`
    and `down` of N jobs in ms per job, with the root on disk beside the same with the
    root on a tmpfs (/dev/shm) as the baseline: the goal is a flat cost per job, and
    the ratio shows what the file system adds (on an ext4 without a journal, every
    inode freed in the last few seconds is skipped one by one by the next inode
    allocations, which grows with N).
Every process it started (found by this run's MRSM_ROOT_DIR in their environment,
or by pid) is killed on exit, even on failure.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ms(seconds):
    return seconds * 1000


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def tagged(root):
    """Pids of processes carrying MRSM_ROOT_DIR=root."""
    tag = f"MRSM_ROOT_DIR={root}".encode()
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if tag in f.read().split(b"\0"):
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def kill_tagged(root):
    """SIGKILLs every process started with MRSM_ROOT_DIR=root, by pid."""
    for pid in tagged(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def uss_kib(pid):
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def wait_until(cond, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.0005)


class Run:
    def __init__(self, mrsm):
        self.mrsm = mrsm
        self.root = tempfile.mkdtemp(prefix="mrsm-perf.")
        self.env = dict(os.environ, MRSM_ROOT_DIR=self.root)
        self.plain = []
        self.rows = []

    def sleeps(self):
        return [p for p in tagged(self.root) if comm(p) == "sleep"]

    def row(self, what, ours, base, goal=""):
        ratio = ours / base if base else float("nan")
        self.rows.append((what, ours, base, ratio, goal))
        print(f"{what:44} {ours:10.2f} {base:10.2f} {ratio:8.2f}x  {goal}", flush=True)

    def spec(self, n, name):
        path = os.path.join(self.root, name)
        with open(path, "w") as f:
            f.write("project: perf\njobs:\n")
            for i in range(n):
                f.write(f"  job-{i:04}:\n    command: sleep 300\n")
        return path

    def start_plain(self, n):
        started = time.perf_counter()
        for _ in range(n):
            self.plain.append(subprocess.Popen(["sleep", "300"], start_new_session=True))
        return time.perf_counter() - started

    def stop_plain(self):
        started = time.perf_counter()
        for p in self.plain:
            p.terminate()
        for p in self.plain:
            p.wait()
        self.plain = []
        return time.perf_counter() - started

    def cleanup(self):
        for p in self.plain:
            p.kill()
        kill_tagged(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def one_start(run, reps):
    ours, base, true = [], [], []
    for i in range(reps):
        ours.append(timed([run.mrsm, "run", "-d", "--name", f"one-{i}", "--", "sleep", "300"], run.env))
        started = time.perf_counter()
        run.plain.append(subprocess.Popen(["sleep", "300"], start_new_session=True))
        base.append(time.perf_counter() - started)
        true.append(timed(["true"], run.env))
    ours.sort()
    run.row("run -d until running, median (ms)", ms(statistics.median(ours)),
            ms(statistics.median(true)), "goal <= 4 ms (issue 19); baseline: `true`")
    run.row("run -d until running, p90 (ms)", ms(ours[int(reps * 0.9)]),
            ms(statistics.median(base)), "baseline: spawning a detached sleep")
    run.stop_plain()
    names = [f"one-{i}" for i in range(reps)]
    subprocess.run([run.mrsm, "delete", "jobs", "-y", *names], env=run.env,
                   check=True, stdout=subprocess.DEVNULL)


def many(run, n):
    names = [f"j{i}" for i in range(n)]
    started = time.perf_counter()
    for name in names:
        subprocess.run([run.mrsm, "run", "-d", "--name", name, "--", "sleep", "300"],
                       env=run.env, check=True, stdout=subprocess.DEVNULL)
    wait_until(lambda: len(run.sleeps()) >= n)
    ours = time.perf_counter() - started
    base = run.start_plain(n)
    run.row(f"start {n}: {n} x run -d (ms)", ms(ours), ms(base),
            f"baseline: {n} detached sleeps")
    supervisors = [p for p in tagged(run.root) if comm(p) == "mrsm"]
    uss = statistics.median(uss_kib(p) for p in supervisors)
    run.row("USS per supervisor (KiB)", uss, uss_kib(run.plain[0].pid),
            "goal <= 150 KiB (issue 19); baseline: a sleep's USS")
    ours = timed([run.mrsm, "stop", "jobs", *names], run.env)
    left = len(run.sleeps())
    base = run.stop_plain()
    run.row(f"stop {n} until none is left (ms)", ms(ours), ms(base),
            f"goal: <= pueue (bench/peers.py); {left} left; baseline: kill + wait")
    subprocess.run([run.mrsm, "delete", "jobs", "-y", *names], env=run.env,
                   check=True, stdout=subprocess.DEVNULL)
    spec = run.spec(n, "small.yaml")
    ours = timed([run.mrsm, "up", "-d", "-f", spec], run.env)
    running = len(run.sleeps())
    base = run.start_plain(n)
    run.row(f"up -d of {n} jobs (ms)", ms(ours), ms(base),
            f"goal <= 100 ms; {running} running; baseline: {n} detached sleeps")
    ours = timed([run.mrsm, "down", "-f", spec], run.env)
    left = len(run.sleeps())
    base = run.stop_plain()
    run.row(f"down of {n} jobs (ms)", ms(ours), ms(base),
            f"goal <= 50 ms; {left} left; baseline: kill + wait")


def big(run, n):
    spec = run.spec(n, "big.yaml")
    ours = timed([run.mrsm, "up", "-d", "-f", spec], run.env)
    base = run.start_plain(n)
    run.row(f"up -d of {n} jobs (ms)", ms(ours), ms(base),
            f"goal <= 2000 ms; baseline: {n} detached sleeps")
    run.stop_plain()
    validate = statistics.median(
        timed([run.mrsm, "validate", "-f", spec], run.env) for _ in range(7))
    true = statistics.median(timed(["true"], run.env) for _ in range(7))
    for what, cmd in (("show jobs --json", ["show", "jobs", "--json"]),
                      ("ps --json", ["ps", "-f", spec, "--json"]),
                      ("diff", ["diff", "-f", spec])):
        ours = statistics.median(timed([run.mrsm, *cmd], run.env) for _ in range(7))
        run.row(f"{what} with {n} jobs (ms)", ms(ours), ms(validate),
                f"goal <= 10 ms (issue 19); baseline: validate ({ms(true):.1f} ms for `true`)")
    ours = timed([run.mrsm, "down", "-f", spec], run.env)
    run.row(f"down of {n} jobs (ms)", ms(ours), ms(true), "baseline: `true`")


def per_job(run, n):
    """`up -d` and `down` of n jobs, in ms per job, with the root on disk and on a
    tmpfs (the baseline)."""
    figures = {}
    for where, parent in (("disk", None), ("tmpfs", "/dev/shm")):
        if parent and not os.path.isdir(parent):
            return
        root = tempfile.mkdtemp(prefix="mrsm-perjob.", dir=parent)
        env = dict(os.environ, MRSM_ROOT_DIR=root)
        try:
            spec = os.path.join(root, "jobs.yaml")
            with open(spec, "w") as f:
                f.write("project: perjob\njobs:\n")
                for i in range(n):
                    f.write(f"  job-{i:04}:\n    command: sleep 300\n")
            up = timed([run.mrsm, "up", "-d", "-f", spec], env)
            down = timed([run.mrsm, "down", "-f", spec], env)
            figures[where] = (up, down)
        finally:
            kill_tagged(root)
            shutil.rmtree(root, ignore_errors=True)
    (up, down), (up_base, down_base) = figures["disk"], figures["tmpfs"]
    run.row(f"up -d of {n} jobs, per job (ms)", ms(up) / n, ms(up_base) / n,
            "goal <= 1.5 ms and flat in N (issue 19); baseline: root on tmpfs")
    run.row(f"down of {n} jobs, per job (ms)", ms(down) / n, ms(down_base) / n,
            "goal: flat in N; baseline: root on tmpfs")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--sizes", default="100,500,1000,2000",
                    help="job counts for the cost per job (empty: skip)")
    ap.add_argument("--mrsm", default=None)
    args = ap.parse_args()
    mrsm = args.mrsm
    if mrsm is None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
        mrsm = os.path.join(REPO, "target", "release", "mrsm")
    print(f"load average before: {os.getloadavg()}")
    print(f"{'figure':44} {'mrsm':>10} {'baseline':>10} {'ratio':>9}")
    run = Run(mrsm)
    try:
        one_start(run, args.reps)
        many(run, args.jobs)
        if args.big:
            big(run, args.big)
        for n in [int(x) for x in args.sizes.split(",") if x.strip()]:
            per_job(run, n)
    finally:
        run.cleanup()
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
