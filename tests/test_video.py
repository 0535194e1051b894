"""Video sources: sampling, a file read at the reader's pace, and a real HTTP MJPEG stream that drops
and comes back (our own server on a local port, stopped and restarted) being resumed."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np
import pytest

from lapi.synth_video import write_video
from lapi.video import FrameSampler, VideoSource, redact
from lapi.video_config import StreamSettings


def test_sampler_keeps_the_configured_rate_of_any_source_rate():
    sampler = FrameSampler(10.0)
    kept = [i for i in range(250) if sampler.due(i / 25.0)]  # 10 s of a 25 fps source
    assert len(kept) == 100
    sampler = FrameSampler(2.0)
    assert [sampler.due(t) for t in (0.0, 0.2, 0.5, 0.6, 1.0)] == [True, False, True, False, True]
    assert sampler.due(60.0) and not sampler.due(60.1) and sampler.due(60.5)  # after a gap: from the frame on


def test_redact_hides_passwords():
    assert redact("rtsp://admin:s3cret@10.0.0.7:554/stream1") == "rtsp://admin:***@10.0.0.7:554/stream1"
    assert redact("http://10.0.0.7/mjpeg") == "http://10.0.0.7/mjpeg"


def numbered_frame(i: int, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    """A frame whose brightness encodes its number (survives JPEG)."""
    return np.full((size[1], size[0], 3), (i * 9) % 250, np.uint8)


def frame_number(frame: np.ndarray) -> int:
    return int(round(float(frame.mean()) / 9))


class Collector:
    def __init__(self, delay: float = 0.0) -> None:
        self.frames: list[tuple[int, datetime]] = []
        self.delay = delay
        self.ended = 0

    async def process(self, frame: np.ndarray, captured_at: datetime) -> None:
        self.frames.append((frame_number(frame), captured_at))
        if self.delay:
            await asyncio.sleep(self.delay)

    async def on_end(self) -> None:
        self.ended += 1


async def test_file_is_read_at_the_readers_pace_sampled_by_its_own_clock(tmp_path):
    path = write_video(tmp_path / "v.avi", [numbered_frame(i) for i in range(20)], fps=10.0)
    got = Collector(delay=0.02)  # a slow reader: a file must still lose nothing
    source = VideoSource(StreamSettings("cam-1", str(path), sample_fps=5.0), got.process, got.on_end)
    source.start()
    await asyncio.wait_for(source.finished.wait(), 30)
    await source.stop()
    assert [n for n, _ in got.frames] == list(range(0, 20, 2))  # every other frame: 5 of 10 fps
    gaps = {round((b - a).total_seconds(), 3) for (_, a), (_, b) in zip(got.frames, got.frames[1:])}
    assert gaps == {0.2}  # video time, not how long reading took
    h = source.health.snapshot()
    assert (h["state"], h["frames_in"], h["frames_processed"], h["frames_dropped"]) == ("finished", 20, 10, 0)
    assert got.ended == 1


async def test_file_not_there_yet_is_waited_for_with_backoff(tmp_path):
    path = tmp_path / "late.avi"
    got = Collector()
    settings = StreamSettings("cam-1", str(path), sample_fps=10.0, reconnect_min_s=0.1, reconnect_max_s=0.4)
    source = VideoSource(settings, got.process, got.on_end)
    source.start()
    await asyncio.sleep(0.8)
    h = source.health.snapshot()
    assert h["state"] in ("reconnecting", "connecting") and h["reconnects"] >= 2
    assert "cannot open" in h["last_error"]
    write_video(tmp_path / "tmp.avi", [numbered_frame(i) for i in range(5)]).rename(path)
    await asyncio.wait_for(source.finished.wait(), 30)
    await source.stop()
    assert [n for n, _ in got.frames] == [0, 1, 2, 3, 4]


class MJPEGServer:
    """A camera's HTTP MJPEG stream (multipart/x-mixed-replace), numbered frames at ``fps``;
    :meth:`stop` cuts every connection, as a camera losing power or network does."""

    def __init__(self, fps: float = 20.0, port: int = 0) -> None:
        self.fps, self.port = fps, port
        self.sent = 0
        self.running = False
        self._conns: list[socket.socket] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mjpeg"

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(8)
        self.port = self._sock.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\n\r\n")
            while self.running:
                jpg = cv2.imencode(".jpg", numbered_frame(self.sent))[1].tobytes()
                conn.sendall(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                             + jpg + b"\r\n")
                self.sent += 1
                time.sleep(1 / self.fps)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.running = False
        for s in [self._sock, *self._conns]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._sock.close()
        self._conns = []


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_http_stream_that_drops_is_resumed_and_a_busy_reader_drops_frames_not_time():
    server = MJPEGServer(fps=20.0)
    server.start()
    got = Collector(delay=0.25)  # slower than the 10 fps sampling: frames must be dropped, not queued
    settings = StreamSettings("cam-1", server.url, sample_fps=10.0, reconnect_min_s=0.2, reconnect_max_s=1.0)
    source = VideoSource(settings, got.process)
    source.start()
    try:
        await wait_for(lambda: len(got.frames) >= 5, 20, "frames from the stream")
        assert source.health.snapshot()["state"] == "streaming"
        server.stop()  # the camera goes away ...
        await wait_for(lambda: source.health.state == "reconnecting", 10, "the loss to be noticed")
        before = len(got.frames)
        await asyncio.sleep(1.0)  # ... for a while (the source keeps retrying, with back-off)
        assert source.health.reconnects >= 1
        server = MJPEGServer(fps=20.0, port=server.port)
        restarted_at = datetime.now(timezone.utc)
        server.start()  # ... and comes back on the same address
        await wait_for(lambda: len(got.frames) >= before + 5, 20, "frames after the stream came back")
        h = source.health.snapshot()
        assert h["state"] == "streaming" and h["reconnects"] >= 2 and h["errors"] >= 2  # lost, then refused
        assert "cannot open" in h["last_error"]
        assert h["frames_dropped"] > 0 and h["fps_in"] > h["fps_processed"] > 0
        # frames are processed at "now": of the lost connection at most the one frame waiting for the busy
        # reader is still processed (no backlog), and capture times keep up with the wall clock
        assert sum(at < restarted_at for _, at in got.frames[before:]) <= 1
        assert datetime.now(timezone.utc) - got.frames[-1][1] < timedelta(seconds=2)
    finally:
        await source.stop()
        server.stop()
    assert source.health.state == "stopped"
