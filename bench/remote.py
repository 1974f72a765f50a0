#!/usr/bin/env python3
"""The `api` executor and `mrsm serve` over loopback HTTP, each figure beside the
same verb on the local executor in the same run.

    target/meerschaum-venv/bin/python bench/remote.py [--jobs 100] [--followers 200]
                                                      [--reps 30] [--seconds 10] [--mrsm PATH]

(any Python with the `websockets` package; `.ci/run` makes that virtualenv.)

  - create: `run -d -e api:bench` per job against `run -d` (local), median of --jobs.
  - list: `GET /v1/jobs` and Meerschaum's `GET /jobs` with --jobs jobs on the server
    (one kept-alive connection, median and p90 of --reps), and `show jobs --json -e
    api:bench` against `show jobs --json` with as many local jobs.
  - stop: `stop jobs -e api:bench NAME` against `stop jobs NAME`, median of 20.
  - followers (after a 2 s warm-up, once all are connected and caught up):
    --followers logs WebSockets on one job that prints its clock every
    100 ms for --seconds: line latency p50/p99 (the clock in the line against the time
    it arrived), the server's RSS and CPU; baseline: one WebSocket follower, and one
    `show logs -f` on a local job doing the same.
Every process it started (found by this run's MRSM_ROOT_DIR in their environment)
is killed on exit, even on failure.
"""
import argparse
import asyncio
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARMUP = 2.0
CLOCK_JOB = ["sh", "-c", "while true; do date +%s%N; sleep 0.1; done"]


def tagged(prefix):
    """Pids of processes whose MRSM_ROOT_DIR is under prefix."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                for var in f.read().split(b"\0"):
                    if var.startswith(b"MRSM_ROOT_DIR=") and var[14:].decode(errors="replace").startswith(prefix):
                        pids.append(int(pid))
        except OSError:
            pass
    return [p for p in pids if p != os.getpid()]


def median_ms(samples):
    return statistics.median(samples) * 1000


def pct_ms(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Bench:
    def __init__(self, args):
        self.mrsm = args.mrsm
        self.base = tempfile.mkdtemp(prefix="mrsm-bench-remote-", dir=os.path.join(REPO, "target"))
        self.server_root = os.path.join(self.base, "server")
        self.client_root = os.path.join(self.base, "client")
        self.server = None

    def env(self, root, **extra):
        env = dict(os.environ, MRSM_ROOT_DIR=root, NO_COLOR="1")
        env.pop("MRSM_EXECUTOR", None)
        env.update(extra)
        return env

    def run(self, root, *args, **extra):
        start = time.perf_counter()
        subprocess.run([self.mrsm, *args], env=self.env(root, **extra), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def start_server(self):
        out = subprocess.run([self.mrsm, "token", "create", "bench"], env=self.env(self.server_root),
                             check=True, capture_output=True, text=True)
        self.token = out.stdout.strip()
        self.server = subprocess.Popen([self.mrsm, "serve", "--bind", "127.0.0.1:0", "--max-followers", "1000"],
                                       env=self.env(self.server_root), stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
        line = self.server.stdout.readline()
        self.port = int(line.split("127.0.0.1:")[1].split()[0])
        self.config = os.path.join(self.base, "config.toml")
        with open(self.config, "w") as f:
            f.write(f'[executors.bench]\nurl = "http://127.0.0.1:{self.port}"\ntoken = "{self.token}"\n')

    def client(self, *args):
        return self.run(self.client_root, *args, MRSM_CONFIG=self.config)

    def cleanup(self):
        if self.server and self.server.poll() is None:
            self.server.kill()
        for pid in tagged(self.base):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


def get_timings(port, token, path, reps):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    count = None
    for _ in range(reps + 3):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        samples.append(time.perf_counter() - start)
        assert response.status == 200, (response.status, body[:200])
        count = len(json.loads(body))
    conn.close()
    return samples[3:], count


async def follow(port, token, name, seconds, latencies, connected):
    import websockets
    async with websockets.connect(f"ws://127.0.0.1:{port}/logs/{name}/ws", max_queue=None) as ws:
        await ws.send(token)
        connected.append(1)
        # Only lines written once every follower is in place count: each first
        # catches up on the history, and 200 connecting at once take a moment.
        since = time.time_ns() + int(WARMUP * 1e9)
        deadline = time.monotonic() + seconds
        deadline += WARMUP
        while time.monotonic() < deadline:
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            now = time.time_ns()
            if frame.isdigit() and int(frame) >= since:
                latencies.append((now - int(frame)) / 1e9)


async def followers(port, token, name, count, seconds):
    latencies, connected = [], []
    tasks = [follow(port, token, name, seconds, latencies, connected) for _ in range(count)]
    await asyncio.gather(*tasks)
    return latencies, len(connected)


def ws_part(port, token, count, seconds, queue):
    queue.put(asyncio.run(followers(port, token, "clock", count, seconds)))


def ws_round(bench, count, seconds, processes=4):
    """`count` followers spread over client processes, so that the clients keep up."""
    import multiprocessing
    queue = multiprocessing.Queue()
    parts = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    workers = [multiprocessing.Process(target=ws_part, args=(bench.port, bench.token, n, seconds, queue))
               for n in parts if n > 0]
    for w in workers:
        w.start()
    latencies, connected = [], 0
    for _ in workers:
        lat, con = queue.get()
        latencies.extend(lat)
        connected += con
    for w in workers:
        w.join()
    return latencies, connected


def local_follower_latencies(bench, seconds):
    proc = subprocess.Popen([bench.mrsm, "show", "logs", "-f", "--output-only", "--no-color", "lclock"],
                            env=bench.env(bench.client_root, MRSM_CONFIG=bench.config),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    latencies = []
    deadline = time.monotonic() + seconds
    since = time.time_ns()

    def read():
        for line in proc.stdout:
            now = time.time_ns()
            word = line.rsplit("| ", 1)[-1].strip()
            if word.isdigit() and int(word) >= since:
                latencies.append((now - int(word)) / 1e9)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while time.monotonic() < deadline:
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    return latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--mrsm", default=os.path.join(REPO, "target/release/mrsm"))
    args = parser.parse_args()
    try:
        import websockets  # noqa: F401
    except ImportError:
        sys.exit("needs the websockets package: run with target/meerschaum-venv/bin/python (see .ci/run)")
    bench = Bench(args)
    results = {"load_before": os.getloadavg()[0]}
    try:
        bench.start_server()
        n = args.jobs
        remote_create = [bench.client("run", "-d", "-e", "api:bench", "--name", f"r{i}", "--", "sleep", "600")
                         for i in range(n)]
        local_create = [bench.client("run", "-d", "--name", f"l{i}", "--", "sleep", "600") for i in range(n)]
        results["create"] = (median_ms(remote_create), median_ms(local_create))

        v1, count = get_timings(bench.port, bench.token, "/v1/jobs", args.reps)
        assert count == n, count
        meer, count = get_timings(bench.port, bench.token, "/jobs", args.reps)
        results["list_http_v1"] = (median_ms(v1), pct_ms(v1, 0.9))
        results["list_http_meerschaum"] = (median_ms(meer), pct_ms(meer, 0.9))
        remote_cli = [bench.client("show", "jobs", "--json", "-e", "api:bench") for _ in range(args.reps)]
        local_cli = [bench.client("show", "jobs", "--json", "-e", "local") for _ in range(args.reps)]
        results["list_cli"] = (median_ms(remote_cli), median_ms(local_cli))

        stops = min(20, n)
        remote_stop = [bench.client("stop", "jobs", "-e", "api:bench", f"r{i}") for i in range(stops)]
        local_stop = [bench.client("stop", "jobs", f"l{i}") for i in range(stops)]
        results["stop"] = (median_ms(remote_stop), median_ms(local_stop))
        for prefix, executor in (("r", "api:bench"), ("l", "local")):
            names = [f"{prefix}{i}" for i in range(n)]
            bench.client("delete", "jobs", "-y", "-e", executor, *names)

        bench.client("run", "-d", "-e", "api:bench", "--name", "clock", "--", *CLOCK_JOB)
        bench.client("run", "-d", "--name", "lclock", "--", *CLOCK_JOB)
        time.sleep(0.5)
        one, _ = ws_round(bench, 1, args.seconds)
        rss_before = rss_kib(bench.server.pid)
        ticks_before = cpu_ticks(bench.server.pid)
        wall = time.monotonic()
        many, connected = ws_round(bench, args.followers, args.seconds)
        wall = time.monotonic() - wall
        ticks = cpu_ticks(bench.server.pid) - ticks_before
        rss_after = rss_kib(bench.server.pid)
        local = local_follower_latencies(bench, args.seconds)
        hz = os.sysconf("SC_CLK_TCK")
        results["followers"] = {
            "connected": connected,
            "lines": len(many),
            "p50_ms": pct_ms(many, 0.5),
            "p99_ms": pct_ms(many, 0.99),
            "one_p50_ms": pct_ms(one, 0.5),
            "one_p99_ms": pct_ms(one, 0.99),
            "local_p50_ms": pct_ms(local, 0.5) if local else None,
            "local_p99_ms": pct_ms(local, 0.99) if local else None,
            "server_rss_kib": (rss_before, rss_after),
            "server_cpu_percent": 100.0 * ticks / hz / wall,
        }
        results["load_after"] = os.getloadavg()[0]
    finally:
        bench.cleanup()

    c = results["create"]
    print(f"create, median:              remote {c[0]:7.2f} ms   local {c[1]:7.2f} ms   ratio {c[0] / c[1]:5.2f}")
    v1, meer, cli = results["list_http_v1"], results["list_http_meerschaum"], results["list_cli"]
    print(f"list {args.jobs} over HTTP /v1/jobs: median {v1[0]:6.2f} ms  p90 {v1[1]:6.2f} ms   (goal <= 5 ms median)")
    print(f"list {args.jobs} over HTTP /jobs:    median {meer[0]:6.2f} ms  p90 {meer[1]:6.2f} ms")
    print(f"show jobs --json, median:    remote {cli[0]:7.2f} ms   local {cli[1]:7.2f} ms   ratio {cli[0] / cli[1]:5.2f}")
    s = results["stop"]
    print(f"stop one job, median:        remote {s[0]:7.2f} ms   local {s[1]:7.2f} ms   ratio {s[0] / s[1]:5.2f}")
    f = results["followers"]
    print(f"{f['connected']} WebSocket followers: {f['lines']} lines, latency p50 {f['p50_ms']:.2f} ms, "
          f"p99 {f['p99_ms']:.2f} ms (goal p99 <= 20 ms)")
    print(f"  one WebSocket follower:     p50 {f['one_p50_ms']:.2f} ms, p99 {f['one_p99_ms']:.2f} ms")
    if f["local_p50_ms"] is not None:
        print(f"  one local `show logs -f`:   p50 {f['local_p50_ms']:.2f} ms, p99 {f['local_p99_ms']:.2f} ms")
    print(f"  server RSS {f['server_rss_kib'][0]} -> {f['server_rss_kib'][1]} KiB, CPU {f['server_cpu_percent']:.1f}% of one core")
    print(f"load average {results['load_before']:.2f} -> {results['load_after']:.2f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
