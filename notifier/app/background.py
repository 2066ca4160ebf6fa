"""Tasks a part starts and does not await at once (no Qt): kept, their failures logged.

asyncio keeps only a weak reference to a task, so a task nobody holds may be collected before
it finishes; and an exception nobody retrieves is reported only as "never retrieved" at exit.
:class:`Background` holds each task until it is done, logs a failure, and lets its owner wait
for the rest when it stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """The running tasks of one owner; ``what`` names them in the log ("an action")."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task on the running loop."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    async def wait(self) -> None:
        """Wait for every task but the calling one (a task may stop its own owner)."""
        current = asyncio.current_task()
        others = [task for task in self._tasks if task is not current]
        if others:
            await asyncio.gather(*others, return_exceptions=True)

    def _on_task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed: %s", self._what, task.exception())
