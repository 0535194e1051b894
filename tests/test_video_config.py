"""[reading.tracking] and the cameras' video source keys: validated at start-up, errors name the key."""

import re
from pathlib import Path

import pytest

from lapi.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "configs" / "lapi.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text)
    (tmp_path / "models").symlink_to(ROOT / "models")
    return cfg


def test_tracking_and_sources(tmp_path):
    cfg = write(tmp_path, """
[reading.tracking]
enabled = false
idle_s = 1.5
hit_confidence = 0.95
hit_min_frames = 3

[[cameras]]
id = "gate"
source = "rtsp://10.0.0.7/stream1"
sample_fps = 8

[[cameras]]
id = "file-cam"
source = "videos/a16.mp4"
tracking = false

[[cameras]]
id = "stills"
tracking = true

[[cameras]]
id = "plain"
""")
    s = load_settings(cfg, env={})
    t = s.tracking
    assert (t.idle_s, t.hit_confidence, t.hit_min_frames) == (1.5, 0.95, 3)
    assert [t.enabled_for(c) for c in ("gate", "file-cam", "stills", "plain")] == [True, False, True, False]
    gate, file_cam = s.streams
    assert (gate.camera_id, gate.source, gate.sample_fps, gate.is_file) == ("gate", "rtsp://10.0.0.7/stream1", 8.0, False)
    assert file_cam.source == str(tmp_path / "videos" / "a16.mp4") and file_cam.is_file
    assert [c.id for c in s.cameras] == ["gate", "file-cam", "stills", "plain"]


def test_shipped_config_tracks_nothing_by_default():
    s = load_settings(ROOT / "configs" / "lapi.toml", env={})
    assert not any(s.tracking.enabled_for(c.id) for c in s.cameras) and s.streams == ()


@pytest.mark.parametrize("text,key", [
    ("[reading.tracking]\nenabled = 1\n", "reading.tracking.enabled"),
    ("[reading.tracking]\nidle_s = 0\n", "reading.tracking.idle_s"),
    ("[reading.tracking]\nhit_confidence = 1.5\n", "reading.tracking.hit_confidence"),
    ("[reading.tracking]\nhit_min_frames = 2.5\n", "reading.tracking.hit_min_frames"),
    ("[reading.tracking]\nidle = 2\n", "reading.tracking.idle"),
    ("[reading]\ntracking = true\n", "reading.tracking"),
    ('[[cameras]]\nid = "a"\nsource = "ftp://x/y"\n', "cameras[0].source"),
    ('[[cameras]]\nid = "a"\nsource = 5\n', "cameras[0].source"),
    ('[[cameras]]\nid = "a"\nsource = "rtsp://x"\nsample_fps = 0\n', "cameras[0].sample_fps"),
    ('[[cameras]]\nid = "a"\nsample_fps = 5\n', "cameras[0].sample_fps"),
    ('[[cameras]]\nid = "a"\ntracking = "yes"\n', "cameras[0].tracking"),
])
def test_bad_values_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ":"):
        load_settings(write(tmp_path, text), env={})
