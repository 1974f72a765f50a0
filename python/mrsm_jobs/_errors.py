"""Exceptions raised by mrsm_jobs, each carrying mrsm's own message.

They subclass the built-in exception a Python user would catch for the same
trouble (``ValueError`` for bad input, ``OSError`` for a root that cannot be
written, ``ConnectionError`` for an executor that does not answer), so code
written for Meerschaum, which raises those, goes on catching them.
"""


class MrsmError(Exception):
    """Anything mrsm refused or failed to do."""


class InvalidJob(MrsmError, ValueError):
    """A job name, sysargs or option that mrsm cannot take (nothing was done)."""


class ScheduleError(MrsmError, ValueError):
    """A schedule mrsm cannot read; the message gives the column and what was expected."""


class RootError(MrsmError, OSError):
    """The root directory (``MRSM_ROOT_DIR``) cannot be made or written."""


class JobNotFound(MrsmError, LookupError):
    """No job has this name on the executor."""


class JobConflict(MrsmError):
    """The job is not in a state that allows this (already exists, not running)."""


class JobBusy(MrsmError):
    """Not now: the same request may succeed a little later."""


class ExecutorUnavailable(MrsmError, ConnectionError):
    """The executor cannot be reached or refused the credentials; nothing was done."""


class Unsupported(MrsmError, NotImplementedError):
    """The executor cannot do this at all."""


class StopMonitoringLogs(Exception):
    """Raise from a ``monitor_logs`` callback to stop monitoring (as in Meerschaum)."""
