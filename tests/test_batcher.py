"""Micro-batching of frames across cameras (lapi/reading/batcher.py), with the real shipped models."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from lapi.reading.batcher import ReadBatcher
from lapi.synth import synthetic_scene
from tests.conftest import FIXTURES


def _frames(n: int) -> list[np.ndarray]:
    """The two committed fixture frames, then synthetic scenes: every frame shows one plate."""
    frames = [cv2.imread(str(FIXTURES / name)) for name in ("frame_GV073KP.jpg", "frame_4821TX62.jpg")]
    rng = random.Random(7)
    while len(frames) < n:
        frames.append(synthetic_scene(rng)[0])
    return frames[:n]


def _texts(reads_per_frame) -> list[list[str]]:
    return [[r.plate_norm for r in reads] for reads in reads_per_frame]


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=2) as pool:
        yield pool


async def test_a_batch_reads_each_frame_as_alone_and_closes_at_its_size(reader, executor):
    frames = _frames(5)
    alone = [reader.read_frames([f])[0] for f in frames]
    batcher = ReadBatcher(reader, executor, max_frames=2, max_wait_ms=1000)
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.read(f) for f in frames))
    finally:
        await batcher.stop()
    assert _texts(r.reads for r in results) == _texts(alone)
    assert [r.reads[0].plate_norm for r in results[:2]] == ["GV073KP", "4821TX62"]
    assert sorted(r.batch_size for r in results) == [1, 2, 2, 2, 2]  # 2 + 2 at the size bound, then the last
    assert batcher.batches == 3 and batcher.frames == 5


async def test_a_lone_frame_waits_at_most_max_wait(reader, executor):
    frame = _frames(1)[0]
    reader.read_frames([frame])  # warm
    batcher = ReadBatcher(reader, executor, max_frames=8, max_wait_ms=300)
    batcher.start()
    try:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        result = await batcher.read(frame)
        waited = loop.time() - t0
    finally:
        await batcher.stop()
    assert result.batch_size == 1 and result.reads[0].plate_norm == "GV073KP"
    assert waited >= 0.3  # it waited for company ...
    assert result.reading_ms >= 300  # ... and says so: reading_ms counts the wait


async def test_frames_arriving_while_a_batch_waits_join_it(reader, executor):
    frames = _frames(3)
    batcher = ReadBatcher(reader, executor, max_frames=8, max_wait_ms=400)
    batcher.start()
    try:
        first = asyncio.create_task(batcher.read(frames[0]))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.read(f)) for f in frames[1:]]
        results = await asyncio.gather(first, *rest)
    finally:
        await batcher.stop()
    assert [r.batch_size for r in results] == [3, 3, 3]
    assert batcher.batches == 1


async def test_zero_wait_still_batches_what_is_queued(reader, executor):
    frames = _frames(4)
    batcher = ReadBatcher(reader, executor, max_frames=8, max_wait_ms=0)
    batcher.start()
    try:
        results = await asyncio.gather(*(batcher.read(f) for f in frames))
    finally:
        await batcher.stop()
    assert all(r.reads for r in results)
    assert batcher.frames == 4 and batcher.batches <= 2  # the first may leave alone, the rest go together


async def test_a_bad_frame_fails_alone_and_its_batch_mates_are_read(reader, executor):
    good = _frames(1)[0]
    batcher = ReadBatcher(reader, executor, max_frames=4, max_wait_ms=300)
    batcher.start()
    try:
        bad = np.zeros((0, 0, 3), np.uint8)  # no pixels: the detector refuses it
        results = await asyncio.gather(batcher.read(bad), batcher.read(good), return_exceptions=True)
        assert isinstance(results[0], Exception)
        assert results[1].reads[0].plate_norm == "GV073KP"
        assert (await batcher.read(good)).reads[0].plate_norm == "GV073KP"  # and it goes on
    finally:
        await batcher.stop()


async def test_read_refused_when_not_running(reader, executor):
    batcher = ReadBatcher(reader, executor)
    with pytest.raises(ConnectionError):
        await batcher.read(_frames(1)[0])
    with pytest.raises(ValueError):
        ReadBatcher(reader, executor, max_frames=0)


def test_frames_of_different_sizes_read_in_one_batch_as_alone(reader):
    """ultralytics letterboxes a mixed-size batch differently from a lone frame: the detector groups by size."""
    rng = random.Random(5)
    frames = [synthetic_scene(rng, size)[0] for size in ((640, 480), (960, 720), (640, 480), (1280, 720))]
    alone = [reader.detector.detect([f])[0] for f in frames]
    together = reader.detector.detect(frames)
    assert together == alone
