"""The reference's ``Job`` examples and every method both implementations have, run
against Meerschaum 4.1.7 and against mrsm with the same expectations.

Commands are ``sh python3 SCRIPT``: Meerschaum's ``sh`` action runs
``bash -c shlex.join(words)``, so a multi-word line in one argument would be quoted
whole there; a script path reads the same in both.
"""

import asyncio
import os
import threading
from datetime import datetime, timezone

import pytest

from conftest import wait_for

# A few lines, then quiet: Meerschaum 4.1.7 re-installs a job's pipes every 5 s and
# an `sh` child that writes after that dies of SIGPIPE (the reference's known
# fault), which a loaded machine would otherwise make a flaky test of.
TICKER = """
import time
for n in range(1, 6):
    print("tick", n, flush=True)
    time.sleep(0.05)
time.sleep(300)
"""

READER = """
import sys
print("ready", flush=True)
for line in sys.stdin:
    print("got:", line.strip(), flush=True)
"""

SAYS_ENV = """
import os
print("greeting is", os.environ.get("GREETING"), flush=True)
"""


def script(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return f"sh python3 {path}"


def make(impl, name, sysargs, **kw):
    job = impl.Job(name, sysargs, executor_keys="local", **kw)
    impl.made.append(job)
    return job


def logs_have(job, text):
    return lambda: text in (job.get_logs() or "")


def utc(at):
    """Meerschaum gives naive times for local jobs (UTC here); mrsm aware ones."""
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def recent(at):
    return at is not None and abs((datetime.now(timezone.utc) - utc(at)).total_seconds()) < 120


def test_the_reference_s_lifecycle(impl, tmp_path):
    job = make(impl, "syncing-engine", script(tmp_path, "ticker", TICKER))
    assert not job.exists()

    started, message = job.start()
    assert started is True and isinstance(message, str), message
    assert job.exists()
    wait_for("running", job.is_running)
    assert isinstance(job.pid, int) and job.pid > 0
    os.kill(job.pid, 0)
    wait_for("began", lambda: recent(job.began))
    wait_for("a tick in the logs", logs_have(job, "tick 1"))

    paused, message = job.pause()
    assert paused is True, message
    wait_for("paused", lambda: job.status == "paused")
    assert not job.is_running()
    wait_for("paused at", lambda: recent(job.paused))

    again, message = job.start()
    assert again is True, message
    wait_for("running again", job.is_running)

    stopped, message = job.stop()
    assert stopped is True, message
    wait_for("stopped", lambda: job.status == "stopped")
    assert not job.is_running()
    assert job.pid is None
    wait_for("ended", lambda: recent(job.ended))
    success, text = job.result
    assert isinstance(success, bool) and isinstance(text, str)

    deleted, message = job.delete()
    assert deleted is True, message
    assert not job.exists()


def test_a_finished_job_s_result_says_how_it_ended(impl, tmp_path):
    good = make(impl, "good", script(tmp_path, "good", "print('done')"))
    bad = make(impl, "bad", script(tmp_path, "bad", "import sys; sys.exit(3)"))
    assert good.start()[0] and bad.start()[0]
    wait_for("good to succeed", lambda: good.status == "stopped" and good.result[0] is True)
    wait_for("bad to fail", lambda: bad.status == "stopped" and bad.result[0] is False)
    assert "done" in good.get_logs()


def test_monitor_logs_receives_lines_until_the_callback_stops_it(impl, tmp_path):
    job = make(impl, "watched", script(tmp_path, "ticker", TICKER))
    assert job.start()[0]
    lines = []

    def on_line(line):
        lines.append(line)
        if sum("tick" in seen for seen in lines) >= 3:
            raise impl.StopMonitoringLogs

    job.monitor_logs(on_line)
    assert sum("tick" in line for line in lines) >= 3


def test_monitor_logs_ends_when_its_stop_event_is_set(impl, tmp_path):
    if impl.name == "meerschaum":
        pytest.skip("meerschaum: stop_event is an asyncio.Event of monitor_logs' own loop")
    job = make(impl, "watched", script(tmp_path, "ticker", TICKER))
    assert job.start()[0]
    lines, stop = [], threading.Event()
    watcher = threading.Thread(
        target=job.monitor_logs, args=(lines.append,), kwargs={"stop_event": stop}
    )
    watcher.start()
    try:
        wait_for("lines in the callback", lambda: sum("tick" in line for line in lines) >= 3)
    finally:
        stop.set()
        watcher.join(15)
    assert not watcher.is_alive(), "monitor_logs went on after its stop_event was set"


def test_monitor_logs_async_receives_lines(impl, tmp_path):
    job = make(impl, "watched-async", script(tmp_path, "ticker", TICKER))
    assert job.start()[0]

    async def watch():
        lines, stop = [], asyncio.Event()

        async def on_line(line):
            lines.append(line)
            if sum("tick" in seen for seen in lines) >= 2:
                stop.set()

        await asyncio.wait_for(job.monitor_logs_async(on_line, stop_event=stop), 20)
        return lines

    assert sum("tick" in line for line in asyncio.run(watch())) >= 2


def test_write_stdin_reaches_a_job_that_reads(impl, tmp_path):
    job = make(impl, "reader", script(tmp_path, "reader", READER))
    assert job.start()[0]
    wait_for("the reader to be ready", logs_have(job, "ready"))
    writer = threading.Thread(target=job.write_stdin, args=("hello\n",), daemon=True)
    writer.start()
    writer.join(10)
    echoed = not writer.is_alive() and wait_for(
        "the line echoed", logs_have(job, "got: hello"), fail=impl.name != "meerschaum"
    )
    if impl.name == "meerschaum" and not echoed:
        pytest.xfail(
            "meerschaum fault: write_stdin goes to a FIFO that its daemon reads only for"
            " Meerschaum's own prompts, never into an `sh` action's process (the write"
            " blocks or the line is lost)"
        )
    assert echoed


def test_env_reaches_the_job(impl, tmp_path):
    job = make(impl, "greeter", script(tmp_path, "env", SAYS_ENV), env={"GREETING": "hi"})
    assert job.start()[0]
    wait_for("the greeting", logs_have(job, "greeting is hi"))


def test_delete_after_completion_removes_a_finished_job(impl, tmp_path):
    job = make(impl, "once", script(tmp_path, "once", "print('once')"), delete_after_completion=True)
    assert job.start()[0]
    wait_for("the job to be gone", lambda: not job.exists())


def test_an_existing_job_is_found_by_name_with_its_sysargs(impl, tmp_path):
    sysargs = script(tmp_path, "ticker", TICKER)
    job = make(impl, "found", sysargs)
    assert job.start()[0]
    wait_for("running", job.is_running)
    again = impl.Job("found", executor_keys="local")
    assert again.exists()
    assert again.status == job.status
    assert " ".join(again.sysargs).endswith("ticker.py")


def test_an_invalid_name_is_a_value_error(impl):
    with pytest.raises(ValueError):
        impl.Job("bad;name", "sh true", executor_keys="local")
