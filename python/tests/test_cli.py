"""The reference table's verbs and flags, driven against Meerschaum 4.1.7's ``mrsm``
command line and against mrsm's, each in a root of its own: the same steps must
give the same exit statuses (zero or not) and leave the same job states. Wording
is not compared.
"""

import os
import subprocess
import sys
import tempfile

import pytest

import mrsm_jobs
from conftest import ROOTS, kill_processes_of_root

R, P, S, A = "running", "paused", "stopped", "absent"

# (arguments, what Meerschaum 4.1.7 answered: exit status zero?, then the states of
# jobs a and b). mrsm must give the same; Meerschaum is run too, to show that this
# is still what it answers.
STEPS = [
    # Meerschaum's "just add -d to any command" (its `start job CMD` form makes no job
    # in 4.1.7: "Create a new job with -d"; mrsm's makes one, as its docs promise).
    ("sh sleep 300 -d --name a -y", True, (R, A)),
    ("sh sleep 300 --name b --daemon -y", True, (R, R)),
    ("show jobs --nopretty", True, (R, R)),
    ("show jobs -e local", True, (R, R)),
    ("show jobs --executor-keys local --nopretty", True, (R, R)),
    ("pause jobs a", True, (P, R)),
    ("start jobs a", True, (R, R)),
    ("stop jobs a -y", True, (S, R)),
    ("start jobs a -e local", True, (R, R)),
    ("pause jobs -y", True, (P, P)),
    ("start jobs -y", True, (R, R)),
    ("stop jobs b -y -e local", True, (R, S)),
    ("delete jobs a -y", True, (A, S)),
    ("stop jobs -y", True, (A, S)),
    ("delete jobs -y", True, (A, A)),
]


class Hung(Exception):
    """The command line did not return within its time."""


def meerschaum_cli():
    cli = os.path.join(os.path.dirname(sys.executable), "mrsm")
    if not os.path.exists(cli):
        pytest.skip("Meerschaum's command line is not installed beside this Python")
    return cli


def meerschaum_states():
    import meerschaum as mrsm

    jobs = [mrsm.Job(name, executor_keys="local") for name in "ab"]
    return tuple(job.status if job.exists() else A for job in jobs)


def mrsm_states():
    jobs = [mrsm_jobs.Job(name) for name in "ab"]
    return tuple(job.status if job.exists() else A for job in jobs)


def drive(cli, root, states, monkeypatch, timeout):
    monkeypatch.setenv("MRSM_ROOT_DIR", root)
    seen = []
    for args, _, _ in STEPS:
        # Output to a file, not a pipe: a daemon that keeps an inherited pipe open
        # must not make the wait for the command's exit a wait for the pipe's end.
        with tempfile.TemporaryFile("w+") as output:
            try:
                code = subprocess.run(
                    [cli, *args.split()],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=timeout,
                ).returncode
            except subprocess.TimeoutExpired:
                raise Hung(args) from None
            output.seek(0)
            said = output.read()[-600:]
        # Both command lines return once the verb is done: no waiting.
        seen.append((args, code == 0, states(), said))
    return seen


def differences(seen):
    return [
        f"{args}: expected {ok} {states}, got {got_ok} {got_states}: {said!r}"
        for (args, ok, states), (_, got_ok, got_states, said) in zip(STEPS, seen)
        if (ok, states) != (got_ok, got_states)
    ]


def test_mrsm_answers_the_reference_table_as_meerschaum_does(monkeypatch):
    ours = drive(os.environ["MRSM_BIN"], ROOTS["mrsm"], mrsm_states, monkeypatch, 60)
    assert not differences(ours), "\n".join(differences(ours))


def test_meerschaum_still_answers_the_table_so(monkeypatch):
    cli = meerschaum_cli()
    try:
        theirs = drive(cli, ROOTS["meerschaum"], meerschaum_states, monkeypatch, 60)
    except Hung as hung:
        kill_processes_of_root(ROOTS["meerschaum"])
        # Seen under load: its CLI forks a daemon from a process with threads, and
        # now and then waits for it for ever. Not what this test is about.
        subprocess.run([cli, "delete", "jobs", "-y"], timeout=120, stdin=subprocess.DEVNULL,
                       capture_output=True)
        pytest.skip(f"meerschaum fault: its command line hung on `{hung}`")
    # Its delete leaves the jobs' `sleep`s behind (the reference's known fault).
    kill_processes_of_root(ROOTS["meerschaum"])
    assert not differences(theirs), "\n".join(differences(theirs))
