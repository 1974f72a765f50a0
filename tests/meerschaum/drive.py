"""Drives `mrsm serve` with Meerschaum 4.1.7's own API client (an `api:` connector
with an `api_key`): list, create, pause, start, stop, delete jobs and read their
logs, over HTTP and the logs WebSocket. Prints one line per check; exits non-zero
on the first failure.

Usage: python drive.py URL API_KEY
"""

import sys
import urllib.parse

import meerschaum as mrsm

from checks import check, wait


def main():
    url, api_key = sys.argv[1], sys.argv[2]
    parsed = urllib.parse.urlparse(url)
    conn = mrsm.get_connector(
        "api",
        "mrsmtest",
        host=parsed.hostname,
        port=parsed.port,
        protocol=parsed.scheme,
        api_key=api_key,
    )
    check("the API key is valid", conn.login()[0])

    jobs = conn.get_jobs()
    check("no jobs at first", jobs == {}, repr(jobs))

    ok, msg = conn.create_job("greeter", ["sh", "-c", "echo hello from mrsm; sleep 60"])
    check("create_job", ok, msg)
    ok, msg = conn.create_job("greeter", ["sh", "-c", "true"])
    check("a second create_job is refused", not ok, msg)
    check("get_job_exists", conn.get_job_exists("greeter") is True)
    check("get_job_exists of a missing job", conn.get_job_exists("nobody") is False)

    jobs = conn.get_jobs()
    check("get_jobs lists it", "greeter" in jobs, repr(list(jobs)))
    job = jobs["greeter"]
    check("as a Job of the connector", job.name == "greeter" and job.sysargs, repr(job.sysargs))

    conn._job_metadata_cache = {}
    check("it runs", conn.get_job_status("greeter") == "running", conn.get_job_status("greeter"))
    check("it has a began time", conn.get_job_began("greeter") is not None)

    logs = wait("its log has its line", lambda: (lambda t: t if "hello from mrsm" in t else None)(conn.get_logs("greeter")))
    check("get_logs", "hello from mrsm" in logs, repr(logs))

    ok, msg = conn.pause_job("greeter")
    check("pause_job", ok, msg)
    conn._job_metadata_cache = {}
    check("it is paused", conn.get_job_status("greeter") == "paused")
    check("it has a paused time", conn.get_job_paused("greeter") is not None)

    ok, msg = conn.start_job("greeter")
    check("start_job resumes it", ok, msg)
    conn._job_metadata_cache = {}
    check("it runs again", conn.get_job_status("greeter") == "running")

    ok, msg = conn.stop_job("greeter")
    check("stop_job", ok, msg)
    conn._job_metadata_cache = {}
    check("it is stopped", conn.get_job_status("greeter") == "stopped")
    check("it has an ended time", conn.get_job_ended("greeter") is not None)
    check("its stop time is known", conn.get_job_stop_time("greeter") is not None)
    check("it does not block on input", conn.get_job_is_blocking_on_stdin("greeter") is False)

    # The logs WebSocket: every line, then the stop message with the result.
    ok, msg = conn.create_job("counter", ["sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done"])
    check("create_job of a short job", ok, msg)
    lines, results = [], []
    conn.monitor_logs(
        "counter",
        lines.append,
        input_callback_function=None,
        stop_callback_function=results.append,
        stop_on_exit=True,
    )
    got = [l.strip() for l in lines if l.startswith("line ")]
    check("monitor_logs saw every line once, in order", got == [f"line {i}" for i in range(1, 6)], repr(lines))
    check("monitor_logs got the stop result", results and results[0][0] is True, repr(results))

    # The logs WebSocket refuses a wrong token in its first frame.
    from websockets.sync.client import connect
    with connect(f"ws://{parsed.hostname}:{parsed.port}/logs/counter/ws") as ws:
        ws.send("mrsm_" + "1" * 64)
        answer = ws.recv(timeout=10)
        check("the logs WebSocket refuses a wrong token", answer == "Invalid credentials.", repr(answer))

    # Meerschaum's action syntax, as its CLI sends `mrsm sh 'LINE' -d --name sayer`:
    # the `sh` action's line runs in a shell; its flags never reach the command.
    ok, msg = conn.create_job("sayer", ["sh", "echo said by the sh action", "--name", "sayer", "-y", "--debug"])
    check("create_job with the sh action", ok, msg)
    logs = wait("the sh action's line", lambda: (lambda t: t if "said by the sh action" in t else None)(conn.get_logs("sayer")))
    check("its flags are not the command's", "--debug" not in logs, repr(logs))
    ok, msg = conn.create_job("syncer", ["sync", "pipes", "--loop"])
    check("an action mrsm does not run is refused", not ok and "sync pipes" in str(msg), repr(msg))
    check("and nothing was made of it", conn.get_job_exists("syncer") is False)

    for name in ("greeter", "counter", "sayer"):
        ok, msg = conn.delete_job(name)
        check(f"delete_job {name}", ok, msg)
    check("no jobs at the end", conn.get_jobs() == {})

    bad = mrsm.get_connector(
        "api",
        "mrsmbad",
        host=parsed.hostname,
        port=parsed.port,
        protocol=parsed.scheme,
        api_key="mrsm_" + "0" * 64,
    )
    check("a wrong API key is refused", not bad.login()[0])
    print("all checks passed")


if __name__ == "__main__":
    main()
