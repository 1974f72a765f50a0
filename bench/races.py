#!/usr/bin/env python3
"""Verbs racing on one job name, for many rounds: the stress behind
tests/it/jobs_races.rs (which runs a few dozen rounds in the suite).

    python3 bench/races.py [--rounds 250] [--http-rounds 250] [--mrsm PATH]

  - cli: each round starts 4 `run -d NAME`, 4 `delete jobs NAME -y` and
    4 `start jobs NAME` at once and waits for all of them.
  - http: each round sends, from 20 threads at once, POST/PUT/DELETE?purge/start/
    stop/pause of /v1/jobs/NAME to one `mrsm serve`.
After every round: at most one live supervisor of the job (found by the mark every
supervisor carries, MRSM_SUPERVISOR=NAME, and this run's MRSM_ROOT_DIR), and when
one lives, `show jobs NAME --json` names it as the job's supervisor; no answer is
a 500. It prints how many rounds broke each rule (all should be 0), how often each
verb went through, and the rounds per second. Every process this run started (by
its MRSM_ROOT_DIR) is killed on exit, even on failure.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "raced"


def environ_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return dict(
                e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e
            )
    except OSError:
        return {}


def tagged(root):
    """Pids of every live process started for this root."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and environ_of(entry).get(b"MRSM_ROOT_DIR") == root.encode():
            found.append(int(entry))
    return found


def supervisors(root, name):
    return [
        pid
        for pid in tagged(root)
        if environ_of(pid).get(b"MRSM_SUPERVISOR") == name.encode()
        and not zombie(pid)
    ]


def zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def shown_supervisor(mrsm, env, name):
    out = subprocess.run(
        [mrsm, "show", "jobs", name, "--json"], env=env, capture_output=True
    )
    try:
        listed = json.loads(out.stdout or b"[]")
    except ValueError:
        return None
    return listed[0].get("supervisor_pid") if listed else None


def check(mrsm, env, root, broken):
    alive = supervisors(root, NAME)
    if len(alive) > 1:
        broken["two supervisors"] += 1
    shown = shown_supervisor(mrsm, env, NAME)
    if alive and shown != alive[0]:
        broken["a live supervisor not the job's"] += 1
    if not alive and shown is not None:
        broken["a job shown running without a supervisor"] += 1


def cli_rounds(mrsm, env, root, rounds, broken):
    verbs = [
        ["run", "-d", "--name", NAME, "--", "sleep", "300"],
        ["delete", "jobs", NAME, "-y"],
        ["start", "jobs", NAME],
    ]
    through = [0, 0, 0]
    for _ in range(rounds):
        children = [
            (i, subprocess.Popen([mrsm, *verb], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL))
            for _ in range(4)
            for i, verb in enumerate(verbs)
        ]
        for i, child in children:
            if child.wait() == 0:
                through[i] += 1
        check(mrsm, env, root, broken)
    return dict(zip(["run -d", "delete", "start"], through))


def http_rounds(mrsm, env, root, port, token, rounds, broken):
    body = json.dumps({"spec": {"name": NAME, "command": ["sleep 300"]}, "desired": "running"})
    calls = [
        ("POST", f"/v1/jobs/{NAME}", body),
        ("PUT", f"/v1/jobs/{NAME}", body),
        ("DELETE", f"/v1/jobs/{NAME}?purge=true", None),
        ("POST", f"/v1/jobs/{NAME}/start", None),
        ("POST", f"/v1/jobs/{NAME}/stop", None),
        ("POST", f"/v1/jobs/{NAME}/pause", None),
    ]
    through = [0] * len(calls)
    lock = threading.Lock()

    def one(i):
        method, path, data = calls[i % len(calls)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            conn.request(method, path, body=data, headers=headers)
            status = conn.getresponse().status
        except OSError:
            status = 0
        finally:
            conn.close()
        with lock:
            if status in (0, 500):
                broken[f"an answer {status}"] += 1
            if 200 <= status < 300:
                through[i % len(calls)] += 1

    for _ in range(rounds):
        threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(mrsm, env, root, broken)
    return dict(zip(["create", "put", "delete", "start", "stop", "pause"], through))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=250)
    parser.add_argument("--http-rounds", type=int, default=250)
    parser.add_argument("--mrsm", default=os.path.join(REPO, "target/release/mrsm"))
    args = parser.parse_args()
    if not os.path.exists(args.mrsm):
        sys.exit(f"{args.mrsm} is missing: cargo build --release")
    tmp = tempfile.mkdtemp(prefix="mrsm-races-")
    root = os.path.join(tmp, "root")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRSM_")}
    env.update(MRSM_ROOT_DIR=root, XDG_CONFIG_HOME=os.path.join(tmp, "config"), NO_COLOR="1")
    broken = {
        "two supervisors": 0,
        "a live supervisor not the job's": 0,
        "a job shown running without a supervisor": 0,
        "an answer 0": 0,
        "an answer 500": 0,
    }
    server = None
    try:
        began = time.monotonic()
        cli = cli_rounds(args.mrsm, env, root, args.rounds, broken)
        cli_rate = args.rounds / (time.monotonic() - began)
        subprocess.run([args.mrsm, "delete", "jobs", NAME, "-y"], env=env,
                       capture_output=True)
        token = subprocess.run([args.mrsm, "token", "create", "races"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        server = subprocess.Popen([args.mrsm, "serve", "--bind", "127.0.0.1:0"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = server.stdout.readline()
        port = int(first.split("127.0.0.1:")[1].split()[0].rstrip(")"))
        began = time.monotonic()
        web = http_rounds(args.mrsm, env, root, port, token, args.http_rounds, broken)
        web_rate = args.http_rounds / (time.monotonic() - began)
        print(f"cli:  {args.rounds} rounds of 12 verbs at once, {cli_rate:.1f} rounds/s; went through: {cli}")
        print(f"http: {args.http_rounds} rounds of 20 requests at once, {web_rate:.1f} rounds/s; went through: {web}")
        for rule, count in broken.items():
            print(f"  rounds with {rule}: {count}")
        sys.exit(1 if any(broken.values()) else 0)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for pid in tagged(root):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
