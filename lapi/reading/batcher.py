"""Micro-batching of frames from every camera into one detector and recogniser pass.

A network pays a fixed price per call (weights read, kernels launched, on a GPU the host-device
round trip) and a small price per image, so frames read one at a time waste most of it.  Each
camera's frame (HTTP push or video source) is queued here; a batch closes when it holds
``max_frames`` frames or ``max_wait_ms`` after its first frame arrived, whichever comes first,
and goes to :meth:`PlateReader.read_frames` in one call.  Each frame's caller is answered as soon
as its batch is done.  With several reading threads, several batches run at once, so a slow
batch never holds back frames that arrive behind it while a thread is free.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class FrameReader(Protocol):
    def read_frames(self, frames: list[np.ndarray], second_look: list[bool] | None = None) -> list[list]: ...


@dataclass(frozen=True)
class BatchResult:
    reads: list          # the frame's PlateReads
    reading_ms: float    # queue wait + its batch's reading time: what the frame waited for its reads
    batch_size: int


@dataclass
class _Pending:
    frame: np.ndarray
    queued_at: float
    done: asyncio.Future
    second_look: bool = True


class ReadBatcher:
    """Gathers frames into batches bounded by size and wait; one reader call per batch."""

    def __init__(self, reader: FrameReader, executor: Executor, max_frames: int = 8, max_wait_ms: float = 2.0,
                 concurrency: int = 1) -> None:
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        self.reader, self.executor = reader, executor
        self.max_frames, self.max_wait_s = max_frames, max_wait_ms / 1000.0
        self.batches = self.frames = 0
        self._slots = asyncio.Semaphore(max(1, concurrency))  # batches in flight: one per reading thread
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._gather_loop(), name="read-batcher")

    async def stop(self) -> None:
        """Stop gathering; batches already being read finish, frames still queued get an error."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._running:
            await asyncio.wait(self._running)
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.done.done():
                pending.done.set_exception(ConnectionError("reader stopped before this frame was read"))

    async def read(self, frame: np.ndarray, second_look: bool = True) -> BatchResult:
        """The frame's reads, once the batch it joined is read.

        ``second_look``: whether a frame without a read is looked at again turned and resized
        (``PlateReader.retry_rotations``, ``retry_sizes``); video sources say no, most of their
        frames show no plate.
        """
        if self._task is None or self._task.done():
            raise ConnectionError("the read batcher is not running")
        pending = _Pending(frame, time.perf_counter(), asyncio.get_running_loop().create_future(), second_look)
        self._queue.put_nowait(pending)
        return await pending.done

    async def _gather_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # gather only when a thread can take the batch
            try:
                batch = await self._gather(loop)
            except BaseException:
                self._slots.release()
                raise
            task = asyncio.create_task(self._read_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> list[_Pending]:
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.max_frames:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(left):
                    batch.append(await self._queue.get())
            except TimeoutError:
                break
        return [p for p in batch if not p.done.done()]  # a caller that gave up is not read

    async def _read_batch(self, batch: list[_Pending]) -> None:
        try:
            if not batch:
                return
            loop = asyncio.get_running_loop()
            try:
                results = await loop.run_in_executor(self.executor, self.reader.read_frames, [p.frame for p in batch],
                                                     [p.second_look for p in batch])
            except Exception as err:  # noqa: BLE001
                if len(batch) == 1:
                    log.warning("reading a frame failed: %s", err)
                    _answer(batch[0], err)
                    return
                # one bad frame must not cost its batch-mates their reads: read each alone
                log.warning("reading a batch of %d frames failed (%s); reading them one by one", len(batch), err)
                for p in batch:
                    try:
                        _answer(p, (await loop.run_in_executor(self.executor, self.reader.read_frames, [p.frame],
                                                               [p.second_look]))[0], 1)
                    except Exception as one:  # noqa: BLE001 - this frame's caller gets its own error
                        _answer(p, one)
                return
            self.batches += 1
            self.frames += len(batch)
            for p, reads in zip(batch, results):
                _answer(p, reads, len(batch))
        finally:
            self._slots.release()


def _answer(pending: _Pending, reads: list | Exception, batch_size: int = 0) -> None:
    if pending.done.done():  # the caller gave up
        return
    if isinstance(reads, Exception):
        pending.done.set_exception(reads)
    else:
        pending.done.set_result(BatchResult(reads, (time.perf_counter() - pending.queued_at) * 1000.0, batch_size))
