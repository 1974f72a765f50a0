"""``Job.monitor_logs`` and ``Job.monitor_logs_async``: each line of a job's log
handed to a callback as it is written, in Meerschaum's shape."""

from __future__ import annotations

import asyncio
import inspect

import time
from typing import Any, Callable, Optional

from ._errors import MrsmError, StopMonitoringLogs


def _print_line(line: str) -> None:
    print(line, end="", flush=True)


class _Watch:
    """One monitoring: the follower of the job's log, and whether to go on."""

    def __init__(self, job: Any, stop_event: Any, stop_on_exit: bool):
        self.job = job
        self.stop_event = stop_event
        self.stop_on_exit = stop_on_exit
        self.follower = job._executor.follow(job.name, True)

    def stopped_by_caller(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def step(self, timeout: float):
        """The next line, or "again" (nothing yet), or "done"."""
        kind, text = self.follower.next(timeout)
        if kind == "line":
            return text
        if kind is None:
            return "again"
        if kind == "error":
            raise MrsmError(text)
        # The job stopped: done, or wait until it runs again and go on from there.
        if self.stop_on_exit or not self.job.exists():
            return "done"
        while not self.job.is_running():
            if self.stopped_by_caller():
                return "done"
            time.sleep(self.job.refresh_seconds)
        self.follower = self.job._executor.follow(self.job.name, False)
        return "again"

    def close(self):
        self.follower.close()


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
    except KeyboardInterrupt:
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


