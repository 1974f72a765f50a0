"""``Job``: Meerschaum 4.1.7's ``Job`` surface over mrsm's executors.

Verbs return ``(success, message)`` tuples as Meerschaum's do; bad input (an
invalid name, sysargs mrsm cannot run, a root that cannot be written) raises at
once, as Meerschaum raises ``ValueError`` for a bad name.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from . import _native
from ._errors import InvalidJob, JobConflict, JobNotFound, MrsmError
from ._monitor import monitor, monitor_async

SuccessTuple = Tuple[bool, str]


def _when(text: Optional[str]) -> Optional[datetime]:
    """mrsm's UTC timestamps (``2024-05-01T12:34:56.789123456Z``) as aware
    datetimes; the fraction cut to microseconds, which is all that Python before 3.11
    parses."""
    if not text:
        return None
    whole, _, fraction = text.rstrip("Z").partition(".")
    at = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return at.replace(microsecond=int((fraction + "000000")[:6]))


class _Restart:
    """``job.restart`` is Meerschaum's property (does the job restart when it ends?)
    and, called, restarts the job (stop, then start): both readings work."""

    def __init__(self, job: "Job"):
        self._job = job

    def __bool__(self) -> bool:
        info = self._job._info()
        return bool(info) and info.get("restart", "never") != "never"

    def __call__(self) -> SuccessTuple:
        stopped, message = self._job.stop()
        if not stopped:
            return stopped, message
        return self._job.start()

    def __repr__(self) -> str:
        return repr(bool(self))


class Job:
    """A named job on an executor (``executor_keys``: ``local`` by default, or the
    settings' ``default_executor``; ``systemd``, ``slurm``, ``api:LABEL``)."""

    def __init__(
        self,
        name: str,
        sysargs: Union[List[str], str, None] = None,
        env: Optional[Dict[str, str]] = None,
        executor_keys: Optional[str] = None,
        delete_after_completion: bool = False,
        refresh_seconds: Union[int, float, None] = None,
    ):
        _native.check_name(name)
        if isinstance(sysargs, str):
            try:
                sysargs = shlex.split(sysargs)
            except ValueError as e:
                raise InvalidJob(f"job {name!r}: sysargs {sysargs!r}: {e}") from None
        self.name = name
        self._executor = _native.executor(executor_keys)
        self.executor_keys = self._executor.label
        self._sysargs = [a for a in (sysargs or []) if a not in ("-d", "--daemon")]
        self._env = dict(env or {})
        self._delete_after_completion = bool(delete_after_completion)
        self.refresh_seconds = 0.1 if refresh_seconds is None else float(refresh_seconds)

    # What the executor knows.
    def _info(self) -> Optional[Dict[str, Any]]:
        text = self._executor.info(self.name)
        return None if text is None else json.loads(text)

    def _at(self, key: str) -> Optional[datetime]:
        """One of the job's times (``began``, ``ended``, ``paused``), aware UTC."""
        info = self._info()
        return _when(info.get(key) if info else None)

    def _verb(self, work: Callable[[], str]) -> SuccessTuple:
        try:
            return True, work()
        except MrsmError as e:
            return False, str(e)

    def start(self, debug: bool = False) -> SuccessTuple:
        """Start the job: created from ``sysargs`` if it does not exist, resumed if
        paused, started again if stopped."""
        if not self.exists():
            if not self._sysargs:
                return False, (
                    f'job "{self.name}" does not exist, and this Job has no sysargs to create it from'
                )
            restart = any(f in self._sysargs for f in ("--restart", "--loop"))
            try:
                return self._executor.create(
                    self.name,
                    self._sysargs,
                    env=self._env or None,
                    restart=restart,
                    rm=self._delete_after_completion,
                )
            except JobConflict:
                pass  # made meanwhile by someone else: start that one
            except MrsmError as e:
                return False, str(e)
        return self._verb(lambda: self._executor.start(self.name))

    def stop(
        self, timeout_seconds: Union[int, float, None] = None, debug: bool = False
    ) -> SuccessTuple:
        """Stop the job; returns once none of its processes is left (SIGKILL after
        ``timeout_seconds``, else the job's own stop timeout)."""
        return self._verb(lambda: self._executor.stop(self.name, timeout_seconds))

    def pause(
        self, timeout_seconds: Union[int, float, None] = None, debug: bool = False
    ) -> SuccessTuple:
        """Suspend every process of the job (and hold its schedule)."""
        return self._verb(lambda: self._executor.pause(self.name))

    def delete(self, debug: bool = False) -> SuccessTuple:
        """Stop the job and remove it with its logs."""
        return self._verb(lambda: self._executor.delete(self.name))

    @property
    def restart(self) -> _Restart:
        """Truthy when the job restarts after it ends; ``job.restart()`` restarts it."""
        return _Restart(self)

    def exists(self, debug: bool = False) -> bool:
        """Whether the job exists on its executor."""
        return self._info() is not None

    def is_running(self) -> bool:
        """Whether the job is running (not paused, not stopped)."""
        return self.status == "running"

    @property
    def status(self) -> str:
        """``running``, ``paused`` or ``stopped`` (Meerschaum's three words; a failed
        job is stopped)."""
        info = self._info()
        if info is None:
            return "stopped"
        return info["status"] if info["status"] in ("running", "paused") else "stopped"

    @property
    def pid(self) -> Optional[int]:
        """The running step's process (the supervisor's between runs), while the
        job runs or is paused."""
        info = self._info()
        if not info or info["status"] not in ("running", "paused"):
            return None
        return info.get("pid") or info.get("supervisor_pid")

    @property
    def began(self) -> Optional[datetime]:
        """When the job (its current supervisor) started."""
        return self._at("began")

    @property
    def ended(self) -> Optional[datetime]:
        """When it stopped, while it is stopped."""
        return self._at("ended")

    @property
    def paused(self) -> Optional[datetime]:
        """When it was paused, while it is."""
        return self._at("paused")

    @property
    def stop_time(self) -> Optional[datetime]:
        """When the job was stopped by request (None when it ended on its own)."""
        info = self._info()
        if not info or info["status"] in ("running", "paused"):
            return None
        if info.get("desired") != "stopped":
            return None
        return _when(info.get("ended"))

    @property
    def result(self) -> SuccessTuple:
        """``(success, message)`` of the job's last run."""
        info = self._info()
        if info and info["status"] in ("running", "paused"):
            return True, f"{self} is running."
        last = info and info.get("last_result")
        if not last:
            return False, "No result available."
        return _native_result(last)

    @property
    def sysargs(self) -> List[str]:
        """The job's sysargs: as given, or, for a job found by name, its stored
        definition in Meerschaum's action syntax (each step ``sh 'STEP'``, steps
        joined by ``+``, then ``-s SCHEDULE`` and ``--loop``/``--restart``), so that
        ``Job(other, Job(name).sysargs)`` makes the same job."""
        if self._sysargs:
            return list(self._sysargs)
        info = self._info()
        if not info:
            return []
        args: List[str] = []
        for i, step in enumerate(info.get("command", [])):
            if i:
                args.append("+")
            args.extend(["sh", step])
        if info.get("schedule"):
            args.extend(["-s", info["schedule"]])
        restart = info.get("restart", "never")
        if restart != "never":
            args.append("--loop" if restart == "always" else "--restart")
        return args

    @property
    def executor(self) -> Optional["_native.Executor"]:
        """None for the local executor (as Meerschaum), else the executor."""
        return None if self.executor_keys == "local" else self._executor

    @property
    def env(self) -> Dict[str, str]:
        """The variables given to the job's processes by this ``Job``."""
        return dict(self._env)

    @property
    def delete_after_completion(self) -> bool:
        """Whether the job removes itself when it has finished."""
        return self._delete_after_completion

    @property
    def hidden(self) -> bool:
        """Names starting with ``_`` or ``.`` are hidden (Meerschaum's rule)."""
        return self.name.startswith(("_", "."))

    @property
    def label(self) -> str:
        """The job's command as one line."""
        return shlex.join(self.sysargs)

    def get_logs(self) -> Optional[str]:
        """The job's output so far, a line per line (None when there is no job)."""
        try:
            return self._executor.logs(self.name)
        except JobNotFound:
            return None

    def write_stdin(self, data: Union[str, bytes]) -> None:
        """Write to the running step's standard input."""
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write_stdin takes str or bytes, not {type(data).__name__}")
        self._executor.write_stdin(self.name, bytes(data))

    def is_blocking_on_stdin(self, debug: bool = False) -> bool:
        """mrsm cannot tell a read from a wait: input is taken whenever the job reads,
        so this is always False (``write_stdin`` works at any time)."""
        return False

    def get_prompt_kwargs(self, debug: bool = False) -> Dict[str, Any]:
        """No prompts are recorded by mrsm (see ``is_blocking_on_stdin``)."""
        return {}

    monitor_logs = monitor
    monitor_logs_async = monitor_async

    def __str__(self) -> str:
        args = shlex.join(self.sysargs) if self._sysargs else ""
        return f'Job("{self.name}"' + (f', "{args}"' if args else "") + ")"

    __repr__ = __str__

    def __hash__(self) -> int:
        return hash(self.name)


def _native_result(last: Dict[str, Any]) -> SuccessTuple:
    """A run record's outcome as Meerschaum's tuple."""
    return bool(last.get("ok")), str(last.get("message", ""))
