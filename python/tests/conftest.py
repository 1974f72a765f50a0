"""One scenario, two implementations: every test taking ``impl`` runs once against
Meerschaum 4.1.7's own ``Job`` and once against mrsm's (``mrsm_jobs``), each with a
root directory of its own.

Meerschaum reads ``MRSM_ROOT_DIR`` when it is imported, mrsm each time a ``Job`` is
made; the fixture points the variable at the implementation's root for the length of
the test (jobs Meerschaum starts inherit it).
"""

import os
import shutil
import tempfile
import time

import pytest

BASE = tempfile.mkdtemp(prefix="mrsm-py-")
ROOTS = {"meerschaum": os.path.join(BASE, "meerschaum"), "mrsm": os.path.join(BASE, "mrsm")}
for _root in ROOTS.values():
    os.makedirs(_root)
os.environ["MRSM_ROOT_DIR"] = ROOTS["meerschaum"]
# Meerschaum installs what it lacks from PyPI unless told not to; CI installs it all.
os.environ.setdefault("MRSM_NO_AUTO_INSTALL", "1")

try:
    import meerschaum.jobs as meerschaum_jobs  # noqa: E402
except ImportError:  # pragma: no cover - the mrsm half still runs
    meerschaum_jobs = None

import mrsm_jobs  # noqa: E402


class Impl:
    """What a scenario needs of an implementation."""

    def __init__(self, name, module):
        self.name = name
        self.Job = module.Job
        self.StopMonitoringLogs = module.StopMonitoringLogs
        self.root = ROOTS[name]

    def __repr__(self):
        return self.name


def _impls():
    found = [Impl("mrsm", mrsm_jobs)]
    if meerschaum_jobs is not None:
        found.insert(0, Impl("meerschaum", meerschaum_jobs))
    elif os.environ.get("MRSM_REQUIRE_MEERSCHAUM") == "1":
        raise RuntimeError("Meerschaum 4.1.7 is not importable and MRSM_REQUIRE_MEERSCHAUM=1")
    return found


@pytest.fixture(params=_impls(), ids=repr)
def impl(request, monkeypatch):
    monkeypatch.setenv("MRSM_ROOT_DIR", request.param.root)
    made = []
    request.param.made = made
    yield request.param
    # Every job a test made goes, even when the test failed.
    for job in made:
        try:
            job.delete()
        except Exception:  # noqa: BLE001 - cleanup goes on
            pass
    if request.param.name == "meerschaum":
        # Meerschaum's stop leaves a job's children running (the reference's known
        # fault): they go by the root they were given, never by name.
        kill_processes_of_root(request.param.root)


def kill_processes_of_root(root):
    """SIGKILL to every process whose MRSM_ROOT_DIR is ``root`` (not this one)."""
    wanted = f"MRSM_ROOT_DIR={root}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if wanted in f.read().split(b"\0"):
                    os.kill(int(pid), 9)
        except (OSError, ProcessLookupError):
            pass


def wait_for(what, check, timeout=120.0, fail=True):
    """Polls ``check`` until it returns something truthy; fails naming ``what``
    (or, with ``fail=False``, returns False). Two minutes: Meerschaum's daemons
    start a Python interpreter each, which a machine loaded by two other builds
    has taken over 60 s for (once in five runs of the suite); mrsm's answer in
    well under a second, so only a failure waits this long."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            if not fail:
                return False
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(BASE, ignore_errors=True)
