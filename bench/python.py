#!/usr/bin/env python3
"""The Python package against Meerschaum 4.1.7's own, measured in one run:

- import: seconds for a fresh interpreter to `import mrsm_jobs` and to
  `import meerschaum` (then `meerschaum.Job`, which the first use loads), each
  minus a bare interpreter's start;
- start: seconds from `Job(NAME, 'sh sleep 300').start()` until `is_running()`;
- stop: seconds from `stop()` until the job's process is gone (a signal 0 refused).

Run it with the Python that has both installed (.ci/run's venv):

    target/meerschaum-venv/bin/python bench/python.py --reps 10

A repetition that does not get there within 30 s is counted (and said), not timed.
Each implementation gets a root of its own (MRSM_ROOT_DIR), set before Meerschaum
is imported; the order of the two alternates between repetitions. Output: medians,
the ratio Meerschaum/mrsm for each, and the raw figures in --out (default
target/bench-python.json). Every job made is deleted at exit.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BASE = tempfile.mkdtemp(prefix="mrsm-bench-py-")
ROOTS = {name: os.path.join(BASE, name) for name in ("meerschaum", "mrsm")}
for _root in ROOTS.values():
    os.makedirs(_root)
os.environ["MRSM_ROOT_DIR"] = ROOTS["meerschaum"]
os.environ.setdefault("MRSM_NO_AUTO_INSTALL", "1")

import meerschaum  # noqa: E402
import mrsm_jobs  # noqa: E402

IMPORTS = {
    "mrsm": "import mrsm_jobs",
    "meerschaum": "import meerschaum; meerschaum.Job",
}
CLASSES = {"mrsm": mrsm_jobs.Job, "meerschaum": meerschaum.Job}


def import_time(statement, reps):
    def once(code):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=os.environ)
        return time.perf_counter() - began

    bare = statistics.median(once("pass") for _ in range(reps))
    return [once(statement) - bare for _ in range(reps)]


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


class TimedOut(Exception):
    """A repetition that did not get there: counted, not timed."""


def wait(check, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimedOut(what)
        time.sleep(0.001)


def start_stop(name, n):
    os.environ["MRSM_ROOT_DIR"] = ROOTS[name]
    job = CLASSES[name](f"bench-{n}", "sh sleep 300", executor_keys="local")
    try:
        began = time.perf_counter()
        ok, message = job.start()
        if not ok:
            raise SystemExit(f"{name}: start failed: {message}")
        wait(job.is_running, f"{name} running")
        start = time.perf_counter() - began
        wait(lambda: job.pid is not None, f"{name}'s pid")
        pid = job.pid
        began = time.perf_counter()
        ok, message = job.stop()
        if not ok:
            raise SystemExit(f"{name}: stop failed: {message}")
        wait(lambda: not alive(pid), f"{name}'s process gone")
        stop = time.perf_counter() - began
        return start, stop
    finally:
        job.delete()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--out", default="target/bench-python.json")
    args = parser.parse_args()

    raw = {name: {"import": [], "start": [], "stop": [], "timed_out": []} for name in CLASSES}
    for name, statement in IMPORTS.items():
        raw[name]["import"] = import_time(statement, args.reps)
    for rep in range(args.reps):
        order = list(CLASSES) if rep % 2 == 0 else list(reversed(CLASSES))
        for name in order:
            try:
                start, stop = start_stop(name, rep)
            except TimedOut as what:
                raw[name]["timed_out"].append(str(what))
                continue
            raw[name]["start"].append(start)
            raw[name]["stop"].append(stop)

    print(f"medians of {args.reps} (seconds)   mrsm        meerschaum  meerschaum/mrsm")
    summary = {}
    for what in ("import", "start", "stop"):
        ours = statistics.median(raw["mrsm"][what])
        theirs = statistics.median(raw["meerschaum"][what])
        summary[what] = {"mrsm": ours, "meerschaum": theirs, "ratio": theirs / ours}
        print(f"{what:<30} {ours:<11.4f} {theirs:<11.4f} {theirs / ours:.1f}x")
    for name in CLASSES:
        if raw[name]["timed_out"]:
            print(f"{name}: {len(raw[name]['timed_out'])} repetitions timed out (30 s): {raw[name]['timed_out']}")
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"summary": summary, "raw": raw}, f, indent=1)


if __name__ == "__main__":
    main()
