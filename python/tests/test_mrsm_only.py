"""What only mrsm's package has, and its answers to bad input: each a Python
exception saying what was wrong and where, as the command line says it."""

import json
import os
import subprocess
import sys
import threading

import pytest

import mrsm_jobs
from conftest import ROOTS, wait_for


@pytest.fixture
def root(monkeypatch):
    monkeypatch.setenv("MRSM_ROOT_DIR", ROOTS["mrsm"])
    made = []
    yield made
    for job in made:
        job.delete()


def test_an_invalid_name_says_what_names_may_be(root):
    with pytest.raises(mrsm_jobs.InvalidJob, match=r"invalid job name \"bad;name\".*letters, digits") as raised:
        mrsm_jobs.Job("bad;name", "sh true")
    assert isinstance(raised.value, ValueError)


def test_a_root_that_cannot_be_written_is_an_os_error_naming_it(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("MRSM_ROOT_DIR", str(blocker / "root"))
    with pytest.raises(mrsm_jobs.RootError, match=r"a-file/root.*Not a directory") as raised:
        mrsm_jobs.Job("fine", "sh true")
    assert isinstance(raised.value, OSError)


def test_a_schedule_typo_names_the_column_and_the_words(root):
    with pytest.raises(mrsm_jobs.ScheduleError, match=r"column") as raised:
        mrsm_jobs.parse_schedule("every 10 secnds")
    assert "secnds" in str(raised.value)
    with pytest.raises(TypeError):
        mrsm_jobs.parse_schedule(10)


def test_sysargs_mrsm_cannot_run_are_refused_with_what_it_runs_instead(root):
    job = mrsm_jobs.Job("syncing-engine", "sync pipes --loop")
    root.append(job)
    ok, message = job.start()
    assert ok is False
    assert "sync pipes" in message and "sh 'COMMAND'" in message
    assert not job.exists()
    with pytest.raises(mrsm_jobs.InvalidJob, match="unterminated|No closing quotation"):
        mrsm_jobs.Job("quotes", "sh 'never closed")


def test_an_unknown_executor_suggests_the_right_one(root):
    with pytest.raises(mrsm_jobs.InvalidJob, match="did you mean `local`"):
        mrsm_jobs.Job("elsewhere", "sh true", executor_keys="locl")


def test_stop_kills_every_process_and_the_command_line_sees_python_s_jobs(root, tmp_path):
    script = tmp_path / "sleeper.sh"
    script.write_text("sleep 300 & sleep 300\n")
    job = mrsm_jobs.Job("sleeper", f"sh sh {script}")
    root.append(job)
    assert job.start() == (True, "Started job 'sleeper'.")
    wait_for("running", job.is_running)
    listed = subprocess.run(
        [os.environ["MRSM_BIN"], "show", "jobs", "--json"],
        capture_output=True, text=True, check=True,
    )
    assert [j["name"] for j in json.loads(listed.stdout)] == ["sleeper"]
    pid = job.pid
    assert job.stop(timeout_seconds=5)[0]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert job.stop_time is not None
    assert job.result[0] is False


def test_restart_is_meerschaum_s_flag_and_a_verb(root, tmp_path):
    job = mrsm_jobs.Job("looper", "sh sleep 300 --loop")
    root.append(job)
    assert job.start()[0]
    assert job.restart  # --loop: restarts always
    first = wait_for("a pid", lambda: job.pid)
    assert job.restart() == (True, "started job \"looper\"") or job.is_running()
    wait_for("a new pid", lambda: job.pid not in (None, first))
    plain = mrsm_jobs.Job("plain", "sh sleep 300")
    root.append(plain)
    assert plain.start()[0]
    assert not plain.restart


def test_schedules_iterate_and_end(root):
    from datetime import datetime, timezone

    now = datetime(2024, 12, 31, 20, 0, tzinfo=timezone.utc)
    fires = mrsm_jobs.parse_schedule("every 1 hour & 2024", now=now)
    assert list(fires) == [now.replace(hour=h) for h in (20, 21, 22, 23)]
    assert fires.next() is None


def test_errors_never_panic_across_the_boundary(root):
    job = mrsm_jobs.Job("nobody", "sh true")
    assert job.stop()[0] is False
    assert job.pause()[0] is False
    assert job.delete()[0] is False
    assert job.get_logs() is None
    assert job.status == "stopped" and job.pid is None and job.result == (False, "No result available.")
    assert job.stop(timeout_seconds=float("nan"))[0] is False
    with pytest.raises(mrsm_jobs.JobNotFound):
        job.write_stdin("x")


def test_a_program_not_found_is_a_failed_start_and_the_job_stays(root):
    job = mrsm_jobs.Job("missing", "no-such-program-here --x")
    root.append(job)
    ok, message = job.start()
    assert ok is False and "no-such-program-here" in message, message
    assert job.exists() and job.status == "stopped"


def test_a_job_found_by_name_gives_sysargs_that_make_the_same_job(root):
    looping = mrsm_jobs.Job("looping", "sh 'sleep 100' + sh 'sleep 200' --loop")
    root.append(looping)
    assert looping.start()[0]
    assert mrsm_jobs.Job("looping").sysargs == ["sh", "sleep 100", "+", "sh", "sleep 200", "--loop"]
    job = mrsm_jobs.Job("sched", "sh 'echo tick' -s 'every 10 seconds'")
    root.append(job)
    assert job.start()[0]
    found = mrsm_jobs.Job("sched")
    assert found.sysargs == ["sh", "echo tick", "-s", "every 10 seconds"]
    copy = mrsm_jobs.Job("sched-copy", found.sysargs)
    root.append(copy)
    assert copy.start()[0]
    info = json.loads(copy._executor.info("sched-copy"))
    assert (info["command"], info["schedule"]) == (["echo tick"], "every 10 seconds")


def test_monitoring_a_missing_job_and_odd_stdin_are_errors(root):
    ghost = mrsm_jobs.Job("ghost", "sh true")
    with pytest.raises(mrsm_jobs.JobNotFound):
        ghost.monitor_logs(print)
    with pytest.raises(TypeError):
        ghost.write_stdin(5)


def test_ctrl_c_ends_monitor_logs_with_keyboard_interrupt(root, tmp_path):
    job = mrsm_jobs.Job("ticker", "sh 'while true; do echo tick; sleep 0.1; done'")
    root.append(job)
    assert job.start()[0]
    code = (
        "import os, signal, mrsm_jobs\n"
        # As in a terminal: the caller (a test harness) may have left SIGINT ignored.
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "seen = []\n"
        "def on_line(line):\n"
        "    seen.append(line)\n"
        "    if len(seen) == 3: os.kill(os.getpid(), signal.SIGINT)\n"
        "try:\n"
        "    mrsm_jobs.Job('ticker').monitor_logs(on_line)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "interrupted", out


def test_monitor_logs_ends_when_the_job_is_deleted_and_sees_every_run(root):
    job = mrsm_jobs.Job("runs", "sh 'echo first; sleep 0.3; echo second'")
    root.append(job)
    assert job.start()[0]
    lines = []

    def restart_then_delete():
        for _ in range(3):
            wait_for("the run to end", lambda: job.status == "stopped")
            assert job.start()[0]
        wait_for("the last run to end", lambda: job.status == "stopped")
        # Deleting removes the log: first let the monitor read the last run's lines.
        wait_for("every run's lines", lambda: "".join(lines).count("second") == 4)
        job.delete()

    driver = threading.Thread(target=restart_then_delete)
    driver.start()
    watcher = threading.Thread(target=job.monitor_logs, args=(lines.append,))
    watcher.start()
    driver.join(60)
    watcher.join(20)
    assert not watcher.is_alive(), "monitor_logs went on after the job was deleted"
    text = "".join(lines)
    assert text.count("first") == 4 and text.count("second") == 4, text


def test_a_stop_timeout_too_large_is_refused_not_a_panic(root):
    job = mrsm_jobs.Job("patient", "sh 'sleep 100'")
    root.append(job)
    assert job.start()[0]
    ok, message = job.stop(1e300)
    assert ok is False and "timeout_seconds" in message
    assert job.is_running()
