"""What the scripts beside this file share: a check printed one line each, and a
wait on a condition with a deadline."""

import sys
import time


def check(what, ok, detail=""):
    """Prints `ok`/`FAIL` and what was checked; exits non-zero on a failure."""
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        sys.exit(1)


def wait(what, probe, timeout=20.0):
    """Polls `probe` until it gives something truthy (returned); fails `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    check(what, False, "timed out")
