"""Config validation: errors name the key."""

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


def test_shipped_config_loads(tmp_path):
    s = load_settings(ROOT / "configs" / "lapi.toml", env={})
    assert s.port == 8080 and s.database_url is None
    assert len(s.cameras) >= 1 and s.cameras[0].lat is not None
    assert (s.detector_dir / "model.json").exists()
    assert s.retry_rotations == (-20.0, -15.0, -10.0, 10.0, 15.0, 20.0)
    assert s.retry_sizes == (480, 960)
    (tmp_path / "sizes").mkdir()
    assert load_settings(write(tmp_path / "sizes", "[reading]\nretry_sizes = []\n"), env={}).retry_sizes == ()
    assert load_settings(write(tmp_path, "[reading]\nretry_rotations = []\n"), env={}).retry_rotations == ()
    assert s.precision == "fp32"  # bfloat16 and int8 can turn close reads
    (tmp_path / "off").mkdir()  # true/false of keys that also take "auto" (device_crops = false was refused)
    off = load_settings(write(tmp_path / "off", "[reading]\nprecision = \"int8\"\ndevice_crops = false\n"), env={})
    assert (off.precision, off.device_crops) == ("int8", False)
    (tmp_path / "auto").mkdir()
    assert load_settings(write(tmp_path / "auto", "[reading]\nprecision = \"auto\"\n"), env={}).precision == "auto"
    (tmp_path / "bare").mkdir()  # a config without the key reads in fp32 as the shipped one does
    assert load_settings(write(tmp_path / "bare", "[reading]\n"), env={}).precision == "fp32"


def test_env_overrides(tmp_path):
    s = load_settings(ROOT / "configs" / "lapi.toml",
                      env={"LAPI_PORT": "9999", "LAPI_DATABASE_URL": "postgresql://x@localhost/y"})
    assert s.port == 9999 and s.database_url == "postgresql://x@localhost/y"
    with pytest.raises(ConfigError, match="^LAPI_PORT"):
        load_settings(ROOT / "configs" / "lapi.toml", env={"LAPI_PORT": "eighty"})


@pytest.mark.parametrize("text,key", [
    ('[server]\nport = "80"\n', "server.port"),
    ("[server]\nport = 70000\n", "server.port"),
    ("[server]\nprot = 80\n", "server.prot"),
    ("[srever]\n", "srever"),
    ('[store]\ndatabase_url = "mysql://x"\n', "store.database_url"),
    ('[reading]\ndevice = "tpu"\n', "reading.device"),
    ('[reading]\ndetector_dir = "nowhere"\n', "reading.detector_dir"),
    ('[[cameras]]\nname = "x"\n', "cameras[0].id"),
    ('[[cameras]]\nid = "a"\nlat = 95.0\n', "cameras[0].lat"),
    ('[[cameras]]\nid = "a"\n[[cameras]]\nid = "a"\n', "cameras[1].id"),
    ('[reading]\ncountries = { FR = 0.9, XX = 0.1 }\n', "reading.countries.XX"),
    ('[reading]\ncountries = { FR = 0 }\n', "reading.countries.FR"),
    ('[reading]\ncountries = { FR = "high" }\n', "reading.countries.FR"),
    ('[reading]\ncountries = "FR"\n', "reading.countries"),
    ("[reading]\nmin_confidence = 1.5\n", "reading.min_confidence"),
    ('[reading]\nmin_confidence_generic = "high"\n', "reading.min_confidence_generic"),
    ("[reading]\nbatch_max_frames = 0\n", "reading.batch_max_frames"),
    ('[reading]\nbatch_max_wait_ms = "2"\n', "reading.batch_max_wait_ms"),
    ("[reading]\nbatch_max_wait_ms = -1\n", "reading.batch_max_wait_ms"),
    ('[reading]\ndevice_crops = "gpu"\n', "reading.device_crops"),
    ("[reading]\ndevice_crops = 1\n", "reading.device_crops"),
    ('[reading]\nprecision = "fp16"\n', "reading.precision"),
    ("[reading]\nprecision = 8\n", "reading.precision"),
    ("[reading]\nbf16_features = true\n", "reading.bf16_features: replaced by reading.precision"),
    ('[reading]\nprecision = "int8"\ndevice = "cuda"\n', 'reading.precision: "int8" runs on a CPU only'),
    ('[reading]\nprecision = "int8"\nrecognizer_config = "models/ocr/english_g2.json"\n',
     'reading.precision: "int8" needs int8.activation_scales in english_g2.json'),
    ("[reading]\nretry_rotations = 20\n", "reading.retry_rotations"),
    ("[reading]\nretry_rotations = [0]\n", "reading.retry_rotations"),
    ("[reading]\nretry_rotations = [60]\n", "reading.retry_rotations"),
    ('[reading]\nretry_rotations = ["20"]\n', "reading.retry_rotations"),
    ("[reading]\nretry_rotations = [10, 10.0]\n", "reading.retry_rotations"),
    ("[reading]\nretry_rotations = [1, 2, 3, 4, 5, 6, 7, 8, 9]\n", "reading.retry_rotations"),
    ("[reading]\nretry_sizes = 960\n", "reading.retry_sizes"),
    ("[reading]\nretry_sizes = [1000]\n", "reading.retry_sizes"),
    ("[reading]\nretry_sizes = [128]\n", "reading.retry_sizes"),
    ("[reading]\nretry_sizes = [960.0]\n", "reading.retry_sizes"),
    ("[reading]\nretry_sizes = [true]\n", "reading.retry_sizes"),
    ("[reading]\nretry_sizes = [480, 480]\n", "reading.retry_sizes"),
    ("[reading]\nretry_sizes = [320, 480, 800, 960, 1280]\n", "reading.retry_sizes"),
    ("[server\n", "config file"),
])
def test_bad_config_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    assert str(err.value).startswith(key)


def test_country_weights_default_and_override(tmp_path):
    assert load_settings(ROOT / "configs" / "lapi.toml", env={}).country_weights["FR"] > 0.5
    s = load_settings(write(tmp_path, '[reading]\ncountries = { fr = 3, ZZ = 1 }\n'), env={})
    assert s.country_weights == {"FR": 3.0, "ZZ": 1.0}
    assert load_settings(write(tmp_path / "b", "[reading]\ncountries = {}\n"), env={}).country_weights == {}
