"""Slots for the expensive routes: at most ``CITEWISE_API__MAX_CONCURRENT_ANSWERS`` ``/v1/ask`` calls at once.

A call past the cap is answered at once with 429 ``too_many_requests`` and ``Retry-After`` (the error envelope),
before it takes a worker thread: the slot is taken by an async dependency, on the event loop. A streamed
answer keeps its slot until its stream ends (or is dropped).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from api.errors import ServerBusy

T = TypeVar("T")
RETRY_AFTER_S = 5


class Slot:
    """One taken slot; ``release()`` may be called any number of times (it gives the slot back once)."""

    def __init__(self, free: threading.BoundedSemaphore) -> None:
        self._free = free
        self._held = True
        self._guard = threading.Lock()
        self.handed_over = False  # a stream owns it now (see ``until_done``)

    def release(self) -> None:
        with self._guard:
            if not self._held:
                return
            self._held = False
        self._free.release()

    def until_done(self, events: Iterator[T]) -> Iterator[T]:
        """``events``, holding this slot until they are exhausted, fail, or the iterator is dropped unstarted."""
        self.handed_over = True

        def held() -> Iterator[T]:
            try:
                yield from events
            finally:
                self.release()

        stream = held()
        weakref.finalize(stream, self.release)  # a stream the server never started still frees its slot
        return stream


class Slots:
    def __init__(self, limit: int, setting: str, what: str, retry_after_s: int = RETRY_AFTER_S) -> None:
        self.limit = limit
        self.setting = setting
        self.what = what
        self.retry_after_s = retry_after_s
        self._free = threading.BoundedSemaphore(limit)

    def take(self) -> Slot:
        """A slot, or ``ServerBusy`` (429) at once when all ``limit`` are taken."""
        if not self._free.acquire(blocking=False):
            raise ServerBusy(
                f"{self.limit} {self.what} are already in progress; retry in {self.retry_after_s} s "
                f"(or raise {self.setting} on the server)",
                self.retry_after_s,
            )
        return Slot(self._free)


async def answer_slot(request: Request) -> AsyncIterator[Slot]:
    """A ``/v1/ask`` slot for the request, given back when the route returns (unless a stream took it over)."""
    slots: Slots = request.app.state.answer_slots
    slot = slots.take()
    try:
        yield slot
    finally:
        if not slot.handed_over:
            slot.release()


AnswerSlot = Annotated[Slot, Depends(answer_slot)]
