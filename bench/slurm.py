#!/usr/bin/env python3
"""The slurm executor against Slurm by hand, on one single-node cluster in one run.

    python3 bench/slurm.py [--n 20] [--steps 100]

Starts a cluster with tests/slurm/cluster.sh (stopped when this ends), builds
mrsm (release) and prints, for mrsm and for `sbatch --wrap` + polling `squeue`
every 50 ms (what a script does by hand):
  - start latency: from the command to the step's own first instruction (the step
    writes its clock), median and p90 of --n;
  - 100 short steps at once: from the first submission until every one is over;
  - 100 short steps one after another: a chain of 100 steps in one job, against
    `sbatch --wait` in a row (the first 10 only: each waits out Slurm's polling)
    and 100 `srun` in a row; reported as steps per second.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="mrsm-bench-slurm")
    cluster = os.path.join(work, "cluster")
    subprocess.run(
        [os.path.join(ROOT, "tests/slurm/cluster.sh"), "start", cluster, str(os.getpid())],
        check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, EPILOG_SECONDS="0"),
    )
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    mrsm = os.path.join(ROOT, "target/release/mrsm")
    env = dict(os.environ, SLURM_CONF=os.path.join(cluster, "slurm.conf"),
               MRSM_ROOT_DIR=os.path.join(work, "root"), NO_COLOR="1")
    out_dir = os.path.join(work, "out")
    os.makedirs(out_dir)

    def run(cmd, **kw):
        return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, **kw)

    def stamp_after(path, t0):
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with open(path) as f:
                    text = f.read().strip()
                if text:
                    return float(text) - t0
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        raise RuntimeError(f"no stamp in {path}")

    def squeue_count(part):
        out = run(["squeue", "-h", "-o", "%j"]).stdout
        return sum(1 for line in out.splitlines() if part in line)

    def until_none(part, t0):
        while squeue_count(part) > 0:
            time.sleep(0.05)
        return time.time() - t0

    # Start latency.
    lat = {"mrsm": [], "sbatch": [], "srun": []}
    for i in range(args.n):
        for who in ("mrsm", "srun", "sbatch"):
            path = os.path.join(out_dir, f"{who}-{i}")
            step = f"date +%s.%N > {path}"
            t0 = time.time()
            if who == "mrsm":
                run([mrsm, "run", "-d", "-e", "slurm", "--name", f"lat{i}", "--", "sh", "-c", step])
            elif who == "srun":
                srun = subprocess.Popen(["srun", "-J", f"hand-srun{i}", "sh", "-c", step], env=env)
            else:
                run(["sbatch", "--quiet", "-J", f"hand-lat{i}", "-o", "/dev/null", "--wrap", step])
            lat[who].append(stamp_after(path, t0) * 1000)
            if who == "srun":
                srun.wait()
            if who == "sbatch":
                until_none("hand-lat", time.time())
    run([mrsm, "delete", "jobs", "-y"] + [f"lat{i}" for i in range(args.n)])

    # Many at once.
    t0 = time.time()
    for i in range(args.steps):
        run([mrsm, "run", "-d", "-e", "slurm", "--name", f"par{i}", "--", "true"])
    names = [f"par{i}" for i in range(args.steps)]
    while True:
        jobs = json.loads(run([mrsm, "show", "jobs", "--json"] + names).stdout)
        if all(j["status"] == "stopped" for j in jobs):
            break
        time.sleep(0.05)
    par_mrsm = time.time() - t0
    run([mrsm, "delete", "jobs", "-y"] + names)
    t0 = time.time()
    for i in range(args.steps):
        run(["sbatch", "--quiet", "-J", f"hand-par{i}", "-o", "/dev/null", "--wrap", "true"])
    par_hand = until_none("hand-par", t0)
    t0 = time.time()
    procs = [subprocess.Popen(["srun", "-J", f"hand-spar{i}", "true"], env=env)
             for i in range(args.steps)]
    for p in procs:
        p.wait()
    par_srun = time.time() - t0

    # One after another.
    chain = []
    for i in range(args.steps):
        chain += (["+"] if i else []) + ["true"]
    t0 = time.time()
    run([mrsm, "run", "-d", "-e", "slurm", "--name", "seq", "--"] + chain)
    while not json.loads(run([mrsm, "show", "runs", "seq", "--json"]).stdout):
        time.sleep(0.05)
    seq_mrsm = time.time() - t0
    runs = json.loads(run([mrsm, "show", "runs", "seq", "--json"]).stdout)
    assert runs[0]["ok"] and len(runs[0]["slurm_jobs"]) == args.steps, runs
    hand_steps = min(args.steps, 10)
    t0 = time.time()
    for i in range(hand_steps):
        run(["sbatch", "--quiet", "--wait", "-J", f"hand-seq{i}", "-o", "/dev/null", "--wrap", "true"])
    seq_hand = (time.time() - t0) / hand_steps * args.steps
    t0 = time.time()
    for i in range(args.steps):
        run(["srun", "-J", f"hand-sseq{i}", "true"])
    seq_srun = time.time() - t0

    print(f"slurm {run(['srun', '--version']).stdout.strip()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"{'figure':50} {'mrsm':>8} {'sbatch':>8} {'srun':>8} {'vs sbatch':>9} {'vs srun':>8}")

    def row(what, m, b, r, digits=1):
        print(f"{what:50} {m:8.{digits}f} {b:8.{digits}f} {r:8.{digits}f} {m / b:9.2f} {m / r:8.2f}")

    row("start latency, median of %d (ms)" % args.n,
        *(statistics.median(lat[w]) for w in ("mrsm", "sbatch", "srun")))
    row("start latency, p90 (ms)", *(pct(lat[w], 90) for w in ("mrsm", "sbatch", "srun")))
    row("%d short steps at once, until all are over (s)" % args.steps,
        par_mrsm, par_hand, par_srun, 2)
    row("%d short steps in a row (s)" % args.steps, seq_mrsm, seq_hand, seq_srun, 2)
    row("steps per second in a row", args.steps / seq_mrsm, args.steps / seq_hand,
        args.steps / seq_srun)
    subprocess.run([os.path.join(ROOT, "tests/slurm/cluster.sh"), "stop", cluster])
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
