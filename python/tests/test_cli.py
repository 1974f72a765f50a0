"""The reference table's verbs and flags, driven against Meerschaum 4.1.7's ``mrsm``
command line and against mrsm's, each in a root of its own: the same steps must
give the same exit statuses (zero or not) and leave the same job states. Wording
is not compared.
"""

import os
import subprocess
import sys

import pytest

import mrsm_jobs
from conftest import ROOTS

STEPS = [
    # (arguments, the jobs whose state is compared after the step)
    # Meerschaum's "just add -d to any command" (its `start job CMD` form makes no job
    # in 4.1.7: "Create a new job with -d"; mrsm's makes one, as its docs promise).
    ("sh sleep 300 -d --name a -y", "a"),
    ("sh sleep 300 --name b --daemon -y", "ab"),
    ("show jobs --nopretty", "ab"),
    ("show jobs -e local", "ab"),
    ("show jobs --executor-keys local --nopretty", "ab"),
    ("pause jobs a", "ab"),
    ("start jobs a", "ab"),
    ("stop jobs a -y", "ab"),
    ("start jobs a -e local", "ab"),
    ("pause jobs -y", "ab"),
    ("start jobs -y", "ab"),
    ("stop jobs b -y -e local", "ab"),
    ("delete jobs a -y", "ab"),
    ("stop jobs -y", "ab"),
    ("delete jobs -y", "ab"),
]


def meerschaum_cli():
    cli = os.path.join(os.path.dirname(sys.executable), "mrsm")
    if not os.path.exists(cli):
        pytest.skip("Meerschaum's command line is not installed beside this Python")
    return cli


def meerschaum_states(names):
    import meerschaum as mrsm

    states = {}
    for name in names:
        job = mrsm.Job(name, executor_keys="local")
        states[name] = job.status if job.exists() else "absent"
    return states


def mrsm_states(names):
    states = {}
    for name in names:
        job = mrsm_jobs.Job(name)
        states[name] = job.status if job.exists() else "absent"
    return states


def drive(cli, root, states, monkeypatch):
    monkeypatch.setenv("MRSM_ROOT_DIR", root)
    seen = []
    for args, names in STEPS:
        out = subprocess.run(
            [cli, *args.split()],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        # Both command lines return once the verb is done: no waiting.
        after = states(names)
        seen.append((args, out.returncode == 0, after, out.stdout[-300:] + out.stderr[-300:]))
    return seen


def test_the_reference_table_gives_the_same_exit_statuses_and_states(monkeypatch):
    ms = drive(meerschaum_cli(), ROOTS["meerschaum"], meerschaum_states, monkeypatch)
    ours = drive(os.environ["MRSM_BIN"], ROOTS["mrsm"], mrsm_states, monkeypatch)
    differences = [
        f"{args}: meerschaum {ok_ms} {states_ms} / mrsm {ok} {states}\n  ms: {out_ms!r}\n  mrsm: {out!r}"
        for (args, ok_ms, states_ms, out_ms), (_, ok, states, out) in zip(ms, ours)
        if (ok_ms, states_ms) != (ok, states)
    ]
    assert not differences, "\n".join(differences)
