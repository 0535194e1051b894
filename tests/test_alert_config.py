"""[alerts] configuration (issue 7): webhooks and MQTT validated at start-up, errors name the key."""

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


HOOK = '[[alerts.webhooks]]\nname = "ops"\nurl = "https://ops.example/hook"\nsecret = "0123456789abcdef"\n'


def test_shipped_config_has_no_destinations():
    alerts = load_settings(ROOT / "configs" / "lapi.toml", env={}).alerts
    assert alerts.webhooks == () and alerts.mqtt is None and alerts.default_max_cost == 0.8


def test_webhooks_and_mqtt_parsed(tmp_path):
    text = ("[alerts]\nmax_attempts = 5\nretry_base_s = 1\n" + HOOK + 'lists = ["douane"]\nmin_priority = 2\n'
            '[[alerts.webhooks]]\nname = "archive"\nurl = "http://10.0.0.2/in"\nsecret_env = "HOOK_SECRET"\n'
            'max_attempts = 20\n[alerts.mqtt]\nhost = "broker.local"\ncategories = ["stolen"]\npassword_env = "MQ"\n')
    alerts = load_settings(write(tmp_path, text), env={"HOOK_SECRET": "x" * 32, "MQ": "pw"}).alerts
    ops, archive = alerts.webhooks
    assert ops.filter.lists == {"douane"} and ops.filter.min_priority == 2 and ops.retry.max_attempts == 5
    assert ops.retry.base_s == 1.0 and archive.secret == "x" * 32 and archive.retry.max_attempts == 20
    assert alerts.mqtt.host == "broker.local" and alerts.mqtt.password == "pw" and alerts.mqtt.filter.categories == {"stolen"}
    assert alerts.mqtt.retry.max_attempts == 5 and alerts.mqtt.topic_prefix == "lapi/alerts"
    off = load_settings(write(tmp_path / "b", "[alerts.mqtt]\nenabled = false\n"), env={}).alerts
    assert off.mqtt is None


@pytest.mark.parametrize("text,key", [
    ("[alerts]\ncolour = 1\n", "alerts.colour"),
    ("[alerts]\nmax_attempts = 0\n", "alerts.max_attempts"),
    ("[alerts]\ndefault_max_cost = 2.5\n", "alerts.default_max_cost"),
    ("[alerts]\nretry_base_s = \"soon\"\n", "alerts.retry_base_s"),
    (HOOK.replace('url = "https://ops.example/hook"', 'url = "ftp://x/y"'), "alerts.webhooks[0].url"),
    (HOOK.replace('secret = "0123456789abcdef"', 'secret = "short"'), "alerts.webhooks[0].secret"),
    (HOOK.replace('secret = "0123456789abcdef"\n', ''), "alerts.webhooks[0].secret"),
    (HOOK.replace('secret = "0123456789abcdef"', 'secret_env = "NOPE"'), "alerts.webhooks[0].secret_env"),
    (HOOK.replace('name = "ops"', 'name = "o p s"'), "alerts.webhooks[0].name"),
    (HOOK + HOOK, "alerts.webhooks[1].name"),
    (HOOK + "lists = [1]\n", "alerts.webhooks[0].lists"),
    (HOOK + "min_priority = 9\n", "alerts.webhooks[0].min_priority"),
    (HOOK + "timeout = 3\n", "alerts.webhooks[0].timeout"),
    ("[alerts.mqtt]\nport = 0\n", "alerts.mqtt.port"),
    ("[alerts.mqtt]\ntopic_prefix = \"lapi/#\"\n", "alerts.mqtt.topic_prefix"),
    ("[alerts.mqtt]\nqos = 2\n", "alerts.mqtt.qos"),
    ("[alerts]\nwebhooks = [1]\n", "alerts.webhooks[0]"),
])
def test_bad_alert_config_names_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, text), env={})
    assert str(err.value).startswith(key), str(err.value)
