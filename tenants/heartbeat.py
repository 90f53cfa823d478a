"""A heartbeat: a row written every few seconds from a thread of its own, for as long as some long
work runs, so that whoever watches for lost work (a reaper, a page) sees that it still moves."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Self

from django.db import DatabaseError, connection
from django.db.models import QuerySet

logger = logging.getLogger(__name__)


class RowHeartbeat:
    """Writes `fields()` to `rows` every `every` seconds while `alive()` says the work still moves.

    `rows` names its row by key, on every tenant's rows: the tenant scope is the working
    thread's, not this one's. Make it conditional (say, on a running status), so that a beat never
    brings back work that was taken back or failed meanwhile. `alive` keeps hung work (a stuck
    GPU call) from beating forever: once it says no, the beats stop until it says yes again.
    Use it as a context manager around the work.
    """

    def __init__(
        self,
        rows: QuerySet,
        every: float,
        *,
        name: str,
        fields: Callable[[], dict],
        alive: Callable[[], bool] = lambda: True,
    ):
        self.rows, self.every, self.name, self.fields, self.alive = rows, every, name, fields, alive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {name}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        said_silent = False
        try:
            while not self._stop.wait(self.every):
                if not self.alive():
                    if not said_silent:
                        logger.warning("%s: no progress for too long; heartbeats stop", self.name)
                    said_silent = True
                    continue
                said_silent = False
                try:
                    self.rows.update(**self.fields())
                except DatabaseError:  # e.g. SQLite busy: the next beat tries again
                    logger.warning("%s: heartbeat not written", self.name, exc_info=True)
        finally:
            connection.close()  # this thread's own connection
