#!/usr/bin/env python3
"""The cost of health checks: supervisor CPU and memory with --jobs jobs each
probed every second, beside the same jobs without probes, in one run.

    python3 bench/health.py [--jobs 50] [--seconds 20] [--probe http|cmd] [--mrsm PATH]

Two projects in two temporary roots, brought up with `up -d`: `plain` (--jobs
`sleep` jobs) and `probed` (the same, each with a health check every second:
`cmd` runs `true`, `http` GETs a local server the script starts). Once all of
the probed jobs are healthy, the supervisors' CPU time (utime + stime from
/proc/PID/stat) is read at the start and the end of a --seconds window, and their
memory (VmRSS, the probes' own processes not included) at the end. Prints the
totals for each, per job, and the ratio probed / plain (the baseline). Every
process it started (found by its roots in their environment) is killed on exit.
"""
import argparse
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from perf import tagged
from remote import rss_kib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid, children=False):
    """utime + stime of `pid`, or (children) of its children it reaped: the probes."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    first = 13 if children else 11
    return (int(fields[first]) + int(fields[first + 1])) / TICK


def spec(jobs, probe, port):
    lines = ["jobs:"]
    for i in range(jobs):
        lines += [f"  job-{i:03}:", "    command: exec sleep 86400"]
        if probe == "cmd":
            lines += ["    healthcheck:", '      test: ["CMD", "true"]', "      interval: 1s"]
        elif probe == "http":
            lines += ["    healthcheck:", f"      http_get: {{ port: {port}, path: / }}", "      interval: 1s"]
    return "\n".join(lines) + "\n"


def supervisors(mrsm, env):
    out = subprocess.run([mrsm, "show", "jobs", "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--probe", choices=["cmd", "http"], default="cmd")
    ap.add_argument("--mrsm", default=os.path.join(REPO, "target/release/mrsm"))
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    roots = {}
    try:
        for name, probe in [("plain", None), ("probed", args.probe)]:
            root = tempfile.mkdtemp(prefix=f"mrsm-bench-health-{name}-")
            roots[name] = root
            env = dict(os.environ, MRSM_ROOT_DIR=root, NO_COLOR="1")
            with open(os.path.join(root, "mrsm-jobs.yaml"), "w") as f:
                f.write(spec(args.jobs, probe, port))
            subprocess.run([args.mrsm, "up", "-d", "-p", name, "-f", os.path.join(root, "mrsm-jobs.yaml")],
                           env=env, check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ, MRSM_ROOT_DIR=roots["probed"])
        deadline = time.monotonic() + 120
        while True:
            jobs = supervisors(args.mrsm, env)
            healthy = sum(1 for j in jobs if (j.get("health") or {}).get("status") == "healthy")
            if healthy == args.jobs:
                break
            if time.monotonic() > deadline:
                sys.exit(f"only {healthy} of {args.jobs} jobs turned healthy")
            time.sleep(0.5)
        pids = {}
        for name, root in roots.items():
            listed = supervisors(args.mrsm, dict(os.environ, MRSM_ROOT_DIR=root))
            pids[name] = [j["supervisor_pid"] for j in listed]
        before = {n: sum(cpu_seconds(p) for p in ps) for n, ps in pids.items()}
        probes_before = sum(cpu_seconds(p, children=True) for p in pids["probed"])
        time.sleep(args.seconds)
        after = {n: sum(cpu_seconds(p) for p in ps) for n, ps in pids.items()}
        probes = sum(cpu_seconds(p, children=True) for p in pids["probed"]) - probes_before
        rss = {n: sum(rss_kib(p) for p in ps) for n, ps in pids.items()}
        cpu = {n: after[n] - before[n] for n in pids}
        print(f"{args.jobs} jobs, {args.probe} probe every 1s, {args.seconds:g} s window")
        for name in ["plain", "probed"]:
            share = 100 * cpu[name] / args.seconds
            print(f"  {name:7} supervisors: CPU {cpu[name]:.2f} s ({share:.1f}% of one core, "
                  f"{1000 * cpu[name] / args.seconds / args.jobs:.2f} ms/s per job), "
                  f"RSS {rss[name] / 1024:.1f} MiB ({rss[name] / args.jobs:.0f} KiB per job)")
        count = args.jobs * args.seconds
        extra = cpu["probed"] - cpu["plain"]
        print(f"  per probe (about {count:.0f}): supervisor {1000 * extra / count:.3f} ms of CPU; "
              f"the probe's own processes {1000 * probes / count:.3f} ms")
        if probes > 0:
            print(f"  supervisor's share of a probe beside the probe itself: x{extra / probes:.2f}")
        print(f"  probed / plain: RSS x{rss['probed'] / rss['plain']:.2f}")
    finally:
        server.shutdown()
        for root in roots.values():
            for pid in tagged(root):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
