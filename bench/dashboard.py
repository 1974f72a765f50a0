#!/usr/bin/env python3
"""The dashboard's page load and `/metrics` scrapes with many jobs, each beside
`GET /v1/jobs` of the same server in the same run.

    python3 bench/dashboard.py [--jobs 1000] [--reps 20] [--mrsm PATH]

(stdlib only; the page load needs Debian's chromium and chromium-driver.)

  - `GET /v1/jobs` (the baseline) and `GET /metrics`: median and p90 of --reps on one
    kept-alive connection, after one cold scrape (the first reads every run history).
  - time to first table: a real headless Chromium opens `/` with the token in the
    tab, and the page marks when its first table of --jobs rows is on screen
    (`performance.mark("mrsm-first-table")`, from navigation start); beside it, that
    same load's own `fetch` of `/v1/jobs` (its resource timing). Median of 5 loads.
The jobs are `sleep 600` declared in one spec and brought up with `up -d`; half of
them have a run history (a run that finished before), so scrapes count runs. Every
process it started (found by this run's MRSM_ROOT_DIR) is killed on exit.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from remote import tagged

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout=120, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


def timings(port, token, path, reps):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        samples.append(time.perf_counter() - start)
        assert response.status == 200, (path, response.status, body[:200])
    conn.close()
    return samples, len(body)


def summary(samples):
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.9 * (len(ordered) - 1))] * 1000


class WebDriver:
    """A few W3C WebDriver commands over HTTP, to Debian's chromedriver."""

    def __init__(self, profile):
        self.port = free_port()
        self.driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={self.port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
        wait_until(lambda: self._ready(), 20, "chromedriver")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                f"--user-data-dir={profile}"]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium", "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]

    def _ready(self):
        try:
            return self.call("GET", "/status").get("ready")
        except OSError:
            return False

    def call(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read() or b"{}")
        conn.close()
        return answer.get("value")

    def do(self, method, path, body=None):
        return self.call(method, f"/session/{self.session}{path}", body)

    def script(self, source, *args):
        return self.do("POST", "/execute/sync", {"script": source, "args": list(args)})

    def close(self):
        try:
            self.do("DELETE", "")
        finally:
            os.killpg(self.driver.pid, signal.SIGKILL)
            self.driver.wait()


def page_loads(url, token, jobs, loads=5):
    profile = tempfile.mkdtemp(prefix="mrsm-bench-chromium-")
    browser = WebDriver(profile)
    try:
        browser.do("POST", "/url", {"url": url})
        browser.script("sessionStorage.setItem('mrsm-token', arguments[0]);", token)
        first, fetches = [], []
        for _ in range(loads):
            browser.do("POST", "/url", {"url": url})
            wait_until(lambda: browser.script(
                "return performance.getEntriesByName('mrsm-first-table').length"), 60, "first table")
            rows = browser.script("return document.querySelectorAll('#jobs-table tbody tr').length")
            assert rows == jobs, (rows, jobs)
            first.append(browser.script(
                "return performance.getEntriesByName('mrsm-first-table')[0].startTime") / 1000)
            fetches.append(browser.script(
                "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/v1/jobs'))[0].duration") / 1000)
        return first, fetches
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--mrsm", default=os.path.join(REPO, "target", "release", "mrsm"))
    args = ap.parse_args()
    base = tempfile.mkdtemp(prefix="mrsm-bench-dashboard-", dir=os.path.join(REPO, "target"))
    env = dict(os.environ, MRSM_ROOT_DIR=base, NO_COLOR="1")
    server = None
    try:
        spec = os.path.join(base, "jobs.yaml")
        with open(spec, "w") as f:
            f.write("project: dash\njobs:\n")
            for i in range(args.jobs):
                # Half of them run once (a finished run in their history) first.
                command = "sleep 600" if i % 2 else "test -f $MRSM_ROOT_DIR/ran-$MRSM_JOB || { touch $MRSM_ROOT_DIR/ran-$MRSM_JOB; exit 0; }; sleep 600"
                f.write(f"  job-{i:04}:\n    command: {json.dumps(command)}\n    restart: always\n")
        started = time.perf_counter()
        subprocess.run([args.mrsm, "up", "-d", "-f", spec], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(f"up -d of {args.jobs} jobs: {time.perf_counter() - started:.1f} s", flush=True)
        token = subprocess.run([args.mrsm, "token", "create", "bench"], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        server = subprocess.Popen([args.mrsm, "serve", "--bind", "127.0.0.1:0"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        port = int(server.stdout.readline().split("127.0.0.1:")[1].split()[0])

        def running():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", "/v1/jobs", headers={"Authorization": f"Bearer {token}"})
            jobs = json.loads(conn.getresponse().read())
            conn.close()
            return sum(1 for j in jobs if j["status"] == "running") == args.jobs
        wait_until(running, 300, "every job running")

        cold, size = timings(port, token, "/metrics", 1)
        print(f"first /metrics scrape (reads every run history): {cold[0] * 1000:.1f} ms, {size} bytes")
        listing, listing_size = timings(port, token, "/v1/jobs", args.reps)
        scrapes, scrape_size = timings(port, token, "/metrics", args.reps)
        (lm, l90), (sm, s90) = summary(listing), summary(scrapes)
        print(f"{'':38} {'median ms':>10} {'p90 ms':>8} {'bytes':>9}")
        print(f"{'GET /v1/jobs (baseline)':38} {lm:10.1f} {l90:8.1f} {listing_size:9}")
        print(f"{'GET /metrics':38} {sm:10.1f} {s90:8.1f} {scrape_size:9}   {sm / lm:.2f}x the baseline")
        if os.path.exists("/usr/bin/chromedriver") and os.path.exists("/usr/bin/chromium"):
            first, fetches = page_loads(f"http://127.0.0.1:{port}/", token, args.jobs)
            fm, f90 = summary(first)
            jm, j90 = summary(fetches)
            print(f"{'page: /v1/jobs fetch in the page':38} {jm:10.1f} {j90:8.1f}")
            print(f"{'page: time to first table':38} {fm:10.1f} {f90:8.1f}            {fm / lm:.2f}x GET /v1/jobs")
        else:
            print("page load: skipped (no chromium / chromium-driver)")
    finally:
        if server and server.poll() is None:
            server.kill()
        for pid in tagged(base):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
