#!/usr/bin/env python3
"""Log pipeline figures, each beside a baseline measured in the same run.

    python3 bench/logs.py [--gib 1]

1. Ingest: one job writes GiB of 100-byte lines to stdout, into rotated files
   (100 MiB x 3); seconds from `run -d` to the job ending, as MB/s. Baseline: the same
   bytes through a pipe into `cat > file`.
2. Follower latency: a job prints its own clock every 50 ms; `mrsm logs -f --tail 0
   --json` shows each line; latency = arrival - the time printed. Baseline: `tail -n 0
   -F` on a file the same program writes. Both followers start at the end, before
   their writer prints its first line.
3. Memory of `mrsm logs -f` over 100 jobs (each printing twice a second). Baseline:
   `tail -F` on the same 100 files.
4. `show logs --json` of long lines full of control bytes (50 lines of 60000 \x01,
   each escaped in the JSON a few bytes at a time), against the same number of bytes
   of plain text: the ratio stays small (~5: each byte becomes a six-byte escape;
   it was ~250 when each small write looked through everything written before it).
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MRSM = os.path.join(REPO, "target", "release", "mrsm")
LINE = "x" * 99
# Waits for the file named by its first argument, then prints its clock 100 times.
CLOCK = (
    "import os,sys,time\n"
    "while not os.path.exists(sys.argv[1]):\n    time.sleep(0.01)\n"
    "for _ in range(100):\n    print(repr(time.time()), flush=True)\n    time.sleep(0.05)\n"
)
SETTLE = 0.5  # seconds for a follower to be in place before its writer starts


def mrsm(root, *args, **kw):
    env = dict(os.environ, MRSM_ROOT_DIR=root)
    return subprocess.run([MRSM, *args], env=env, check=True, capture_output=True, text=True, **kw)


def status(root, name):
    return json.loads(mrsm(root, "show", "jobs", name, "--json").stdout)[0]["status"]


def wait_stopped(root, name, timeout=600):
    deadline = time.time() + timeout
    while status(root, name) != "stopped":
        if time.time() > deadline:
            raise SystemExit(f"{name} did not stop")
        time.sleep(0.02)


def kb(pid, field):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def ingest(root, scratch, gib):
    size = gib << 30
    produce = f"yes {LINE} | head -c {size}"
    t0 = time.time()
    subprocess.run(["sh", "-c", f"{produce} | cat > {scratch}/raw"], check=True)
    base = time.time() - t0
    os.remove(f"{scratch}/raw")
    t0 = time.time()
    mrsm(root, "run", "-d", "--name", "ingest", "--log-size", "100MiB", "--log-keep", "3", "--", "sh", "-c", produce)
    wait_stopped(root, "ingest")
    took = time.time() - t0
    mb = size / 1e6
    print(f"{'ingest MB/s (GiB=' + str(gib) + ')':<36} {mb / took:>12.0f} {mb / base:>14.0f} {base / took:>7.2f}x")
    mrsm(root, "delete", "jobs", "ingest", "-y")


def latencies(cmd, go, env=None):
    """Starts the follower `cmd`, lets its writer go (creating the file `go`), and
    measures 100 lines."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    time.sleep(SETTLE)
    open(go, "w").close()
    out = []
    for line in proc.stdout:
        now = time.time()
        text = line.strip()
        if text.startswith("{"):
            text = json.loads(text)["line"]
        try:
            out.append(now - float(text))
        except ValueError:
            continue
        if len(out) >= 100:
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    return out


def latency(root, scratch):
    env = dict(os.environ, MRSM_ROOT_DIR=root)
    go = f"{scratch}/go-mrsm"
    mrsm(root, "run", "-d", "--name", "clock", "--", "python3", "-c", CLOCK, go)
    follower = [MRSM, "logs", "-f", "--tail", "0", "--json", "--output-only", "clock"]
    ours = latencies(follower, go, env)
    path = f"{scratch}/clock.txt"
    go = f"{scratch}/go-tail"
    with open(path, "w") as out:
        writer = subprocess.Popen(["python3", "-c", CLOCK, go], stdout=out)
    base = latencies(["tail", "-n", "0", "-F", path], go)
    writer.wait()
    for label, f in [("p50", statistics.median), ("p95", lambda v: sorted(v)[int(len(v) * 0.95)]), ("max", max)]:
        a, b = f(ours) * 1000, f(base) * 1000
        print(f"{'follower latency ' + label + ' (ms)':<36} {a:>12.2f} {b:>14.2f} {a / b:>7.2f}x")


def memory(root):
    names = [f"talker-{i:03}" for i in range(100)]
    for n in names:
        mrsm(root, "run", "-d", "--name", n, "--", "sh", "-c", "while true; do echo tick; sleep 0.5; done")
    env = dict(os.environ, MRSM_ROOT_DIR=root)
    ours = subprocess.Popen([MRSM, "logs", "-f"], stdout=subprocess.DEVNULL, env=env)
    files = [os.path.join(root, "logs", n + ".log") for n in names]
    tail = subprocess.Popen(["tail", "-n", "0", "-F", *files], stdout=subprocess.DEVNULL)
    time.sleep(3)
    for label, field in [("RSS", "Rss"), ("PSS", "Pss")]:
        a, b = kb(ours.pid, field), kb(tail.pid, field)
        print(f"{'logs -f over 100 jobs ' + label + ' (KiB)':<36} {a:>12} {b:>14} {a / b:>7.2f}x")
    for p in (ours, tail):
        p.terminate()
        p.wait()
    mrsm(root, "stop", "jobs", *names)


def escaped_lines(root):
    """Seconds to print a log of long escaped lines as JSON, against plain ones."""
    writer = "import sys\nfor _ in range(50):\n    sys.stdout.write(sys.argv[1] * 60000 + '\\n')\n"
    timings = {}
    for name, char in (("escaped", "\x01"), ("plain", "x")):
        mrsm(root, "run", "-d", "--name", name, "--", "python3", "-c", writer, char)
        wait_stopped(root, name)
        began = time.monotonic()
        mrsm(root, "show", "logs", name, "--json")
        timings[name] = time.monotonic() - began
    ratio = timings["escaped"] / max(timings["plain"], 1e-6)
    label = "show logs --json, escaped lines (s)"
    print(f"{label:<36} {timings['escaped']:>12.3f} {timings['plain']:>14.3f} {ratio:>8.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=int, default=1)
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    root = tempfile.mkdtemp(prefix="mrsm-bench-root.")
    scratch = tempfile.mkdtemp(prefix="mrsm-bench-scratch.")
    try:
        print("goals: ingest >= 200 MB/s, follower latency < 50 ms")
        print(f"{'measure':<36} {'mrsm':>12} {'baseline':>14} {'ratio':>8}")
        ingest(root, scratch, args.gib)
        latency(root, scratch)
        memory(root)
        escaped_lines(root)
    finally:
        subprocess.run(["sh", "-c", f"MRSM_ROOT_DIR={root} {MRSM} stop jobs $(ls {root}/jobs 2>/dev/null) >/dev/null 2>&1"])
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
