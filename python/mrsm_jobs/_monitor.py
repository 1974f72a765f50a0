"""``Job.monitor_logs`` and ``Job.monitor_logs_async``: each line of a job's log
handed to a callback as it is written, in Meerschaum's shape."""

from __future__ import annotations

import asyncio
import inspect

import time
from collections import deque
from typing import Any, Callable, Deque, Optional

from ._errors import JobNotFound, StopMonitoringLogs


def _print_line(line: str) -> None:
    print(line, end="", flush=True)


class _Watch:
    """One monitoring: a cursor in the job's log, read a page at a time. Each
    ``step`` waits at most its timeout, so a caller's stop, a cancellation or
    Ctrl-C is seen between steps; the cursor runs on across the job's runs, so no
    run's lines are missed, and nothing is left behind when monitoring ends."""

    def __init__(self, job: Any, stop_event: Any, stop_on_exit: bool):
        if not job.exists():
            raise JobNotFound(f'job "{job.name}" does not exist')
        self.job = job
        self.stop_event = stop_event
        self.stop_on_exit = stop_on_exit
        self.cursor = 0
        self.lines: Deque[str] = deque()
        # A line longer than a log record comes in pieces: handed out whole.
        self.partial = ""

    def stopped_by_caller(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def _read(self) -> bool:
        """Reads what is new; False when the job is gone."""
        try:
            pieces, self.cursor = self.job._executor.read(self.job.name, self.cursor)
        except JobNotFound:
            return False
        for piece in pieces:
            self.partial += piece
            if piece.endswith("\n"):
                self.lines.append(self.partial)
                self.partial = ""
        return True

    def step(self, timeout: float):
        """The next line, or "again" (nothing yet), or "done"."""
        if self.lines:
            return self.lines.popleft()
        if self.stopped_by_caller() or not self._read():
            return "done"
        if self.lines:
            return self.lines.popleft()
        info = self.job._info()
        if info is None:
            return "done"
        if self.stop_on_exit and info["status"] not in ("running", "paused"):
            # What the job wrote before it ended, then no more.
            self._read()
            if self.partial:
                self.lines.append(self.partial)
                self.partial = ""
            return self.lines.popleft() if self.lines else "done"
        time.sleep(min(timeout, self.job.refresh_seconds))
        return "again"

    def close(self):
        self.lines.clear()


def monitor(
    self: Any,
    callback_function: Callable[[str], Any] = _print_line,
    input_callback_function: Optional[Callable[[], str]] = None,
    stop_callback_function: Optional[Callable[[Any], Any]] = None,
    stop_event: Any = None,
    stop_on_exit: bool = False,
    strip_timestamps: bool = False,
    accept_input: bool = True,
    debug: bool = False,
) -> None:
    """Call ``callback_function`` with every line of the job's log, then with each new
    line as it is written. Ends when ``stop_event`` (a ``threading.Event`` or
    ``asyncio.Event``) is set, when the callback raises ``StopMonitoringLogs``, or,
    with ``stop_on_exit``, when the job stops (then ``stop_callback_function`` gets
    the job's ``result``). Lines carry no timestamps, so ``strip_timestamps`` changes
    nothing; mrsm takes input whenever a job reads, so ``input_callback_function`` is
    never asked (use ``write_stdin``)."""
    watch = _Watch(self, stop_event, stop_on_exit)
    try:
        while not watch.stopped_by_caller():
            got = watch.step(0.1)
            if got == "done":
                break
            if got == "again":
                continue
            try:
                callback_function(got)
            except StopMonitoringLogs:
                return
    finally:
        watch.close()
    if stop_callback_function is not None and stop_on_exit:
        stop_callback_function(self.result)


async def monitor_async(
    self: Any,
    callback_function: Callable[[str], Any] = _print_line,
    input_callback_function: Optional[Callable[[], str]] = None,
    stop_callback_function: Optional[Callable[[Any], Any]] = None,
    stop_event: Optional[asyncio.Event] = None,
    stop_on_exit: bool = False,
    strip_timestamps: bool = False,
    accept_input: bool = True,
    debug: bool = False,
) -> None:
    """``monitor_logs`` for asyncio: the wait for each line runs in a worker thread,
    callbacks may be coroutine functions, and the event loop is never blocked."""
    loop = asyncio.get_running_loop()
    watch = _Watch(self, stop_event, stop_on_exit)

    async def call(function: Callable[..., Any], *args: Any) -> None:
        out = function(*args)
        if inspect.isawaitable(out):
            await out

    try:
        while not watch.stopped_by_caller():
            got = await loop.run_in_executor(None, watch.step, 0.1)
            if got == "done":
                break
            if got == "again":
                continue
            try:
                await call(callback_function, got)
            except StopMonitoringLogs:
                return
    finally:
        watch.close()
    if stop_callback_function is not None and stop_on_exit:
        await call(stop_callback_function, self.result)


