#!/usr/bin/env python3
"""Follow latency and idle cost of `mrsm show logs -f`, against `tail -F` of a plain
file (inotify-driven, from coreutils) measured in the same run.

    python3 bench/follow.py [--lines 200] [--every 0.02] [--mrsm target/release/mrsm]

A writer prints its wall clock (ns) on each line every `--every` seconds; the
follower's output is read line by line and the latency is arrival - written. Prints
median and p99 latency for both, and the CPU the follower used while the job was
quiet for 2 s (utime + stime from /proc/PID/stat). Kills everything it started
(processes carrying this run's MRSM_ROOT_DIR) on exit.
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

WRITER = (
    "import sys, time\n"
    "n, every = int(sys.argv[1]), float(sys.argv[2])\n"
    "time.sleep(0.3)\n"
    "for i in range(n):\n"
    "    print(f'T {time.time_ns()}', flush=True)\n"
    "    time.sleep(every)\n"
    "time.sleep(2.5)\n"
    "print('END', flush=True)\n"
)


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def follow(cmd, env, lines):
    """Latencies (ms) of the writer's lines as `cmd` prints them, and the CPU ticks
    the follower used during the writer's quiet last 2.5 s."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    latencies, quiet_from, quiet_ticks = [], None, None
    try:
        for line in proc.stdout:
            now = time.time_ns()
            if " T " in f" {line}" or line.startswith("T "):
                written = int(line.rsplit("T ", 1)[1].split()[0])
                latencies.append((now - written) / 1e6)
                if len(latencies) == lines:
                    quiet_from = cpu_ticks(proc.pid)
                    time.sleep(2)
                    quiet_ticks = cpu_ticks(proc.pid) - quiet_from
            if "END" in line:
                break
    finally:
        proc.kill()
        proc.wait()
    return latencies, quiet_ticks


def summary(xs):
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--every", type=float, default=0.02)
    ap.add_argument("--mrsm", default="target/release/mrsm")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="mrsm-follow.")
    env = dict(os.environ, MRSM_ROOT_DIR=root, NO_COLOR="1")
    writer = os.path.join(root, "writer.py")
    with open(writer, "w") as f:
        f.write(WRITER)
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    try:
        # Baseline: the same writer into a plain file, followed by tail -F.
        plain = os.path.join(root, "plain.log")
        open(plain, "w").close()
        w = subprocess.Popen(
            f"exec python3 {writer} {args.lines} {args.every} >> {plain}", shell=True
        )
        base, base_idle = follow(["tail", "-n", "0", "-F", plain], env, args.lines)
        w.kill()
        w.wait()
        # mrsm: the writer as a job, followed by `show logs -f`.
        subprocess.run(
            [args.mrsm, "run", "-d", "--name", "writer", "--",
             "python3", writer, str(args.lines), str(args.every)],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )
        ours, ours_idle = follow(
            [args.mrsm, "show", "logs", "-f", "--output-only", "writer"], env, args.lines
        )
        for name, lat, idle in (("tail -F (baseline)", base, base_idle),
                                ("mrsm show logs -f", ours, ours_idle)):
            med, p99 = summary(lat)
            idle_ms = "?" if idle is None else f"{idle * tick_ms:.0f}"
            print(f"{name:20} lines {len(lat):4}  median {med:6.3f} ms  p99 {p99:6.3f} ms"
                  f"  CPU while quiet 2 s: {idle_ms} ms")
        bm, _ = summary(base)
        om, _ = summary(ours)
        print(f"ratio mrsm/tail median: {om / bm:.2f}")
    finally:
        subprocess.run([args.mrsm, "delete", "jobs", "-y", "writer"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tag = f"MRSM_ROOT_DIR={root}".encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if tag in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
