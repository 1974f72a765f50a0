"""Meerschaum's ``Job`` class and ``parse_schedule``, run by mrsm.

Code written for Meerschaum runs with only its import line changed::

    from mrsm_jobs import Job            # was: import meerschaum as mrsm; mrsm.Job
    job = Job('syncing-engine', "sh 'while true; do date; sleep 1; done'")
    success, msg = job.start()

Jobs are mrsm's: the same root (``MRSM_ROOT_DIR``), the same files and the same
executors (``executor_keys`` is the command line's ``-e``) as the ``mrsm`` command,
so ``mrsm show jobs`` lists what Python started and the other way round.
"""

from __future__ import annotations

import os
import pathlib

from . import _native
from ._errors import (
    ExecutorUnavailable,
    InvalidJob,
    JobBusy,
    JobConflict,
    JobNotFound,
    MrsmError,
    RootError,
    ScheduleError,
    StopMonitoringLogs,
    Unsupported,
)
from ._job import Job
from ._schedule import Schedule, parse_schedule

__all__ = [
    "Job",
    "Schedule",
    "parse_schedule",
    "MrsmError",
    "InvalidJob",
    "ScheduleError",
    "RootError",
    "JobNotFound",
    "JobConflict",
    "JobBusy",
    "ExecutorUnavailable",
    "Unsupported",
    "StopMonitoringLogs",
]

__version__ = _native.MRSM_VERSION


def _bundled_binary() -> None:
    """Supervisors are ``mrsm supervise NAME`` processes: the wheel carries its own
    ``mrsm`` binary, used unless ``MRSM_BIN`` names another."""
    if os.environ.get("MRSM_BIN"):
        return
    bundled = pathlib.Path(__file__).with_name("bin") / "mrsm"
    if bundled.is_file():
        os.environ["MRSM_BIN"] = str(bundled)


_bundled_binary()
