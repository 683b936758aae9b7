"""Config: the example is complete and valid; bad configs fail with the key and the fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import Settings, load_settings, parse_duration, secret
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"


def keys_of(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0] if "list" in str(annotation) else annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            keys |= keys_of(inner, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def documented_keys(data: dict, prefix: str = "") -> set[str]:
    keys = set()
    for name, value in data.items():
        if isinstance(value, dict):
            keys |= documented_keys(value, f"{prefix}{name}.")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                keys |= documented_keys(item, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_documents_every_key() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.pages[0].platform == "facebook"
    documented = documented_keys(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")))
    missing = keys_of(Settings) - documented
    assert not missing, f"config.example.toml does not document: {sorted(missing)}"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, '[slack]\nmod = "socket"\n'))
    assert "slack.mod" in str(error.value) and "unknown key" in str(error.value)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, '[http]\nport = "eighty"\n'))
    assert "http.port" in str(error.value)


def test_sync_concurrency_is_bounded(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "[meta]\nsync_concurrency = 8\n")).meta.sync_concurrency == 8
    with pytest.raises(ConfigError, match=r"meta\.sync_concurrency"):
        load_settings(write(tmp_path, "[meta]\nsync_concurrency = 0\n"))


def test_bad_duration_and_timezone_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deadlines\.urgent.*duration"):
        load_settings(write(tmp_path, '[deadlines]\nurgent = "soon"\n'))
    with pytest.raises(ConfigError, match=r"deadlines\.timezone"):
        load_settings(write(tmp_path, '[deadlines]\ntimezone = "Europe/Bergen"\n'))


def test_page_without_channel_is_reported(tmp_path: Path) -> None:
    text = '[[pages]]\nid = "1"\nname = "Kinn"\naccess_token_env = "T"\n'
    with pytest.raises(ConfigError, match=r"pages\.0\.channel.*required"):
        load_settings(write(tmp_path, text))


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 2"):
        load_settings(write(tmp_path, "[slack]\nmode = \n"))


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KV_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="KV_TEST_TOKEN"):
        secret("KV_TEST_TOKEN", "pages.0.access_token_env")
    monkeypatch.setenv("KV_TEST_TOKEN", "abc")
    assert secret("KV_TEST_TOKEN", "x") == "abc"


def test_no_config_gives_defaults_unless_required(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOMMENTARVAKT_CONFIG", raising=False)
    assert load_settings().database.url.startswith("sqlite+aiosqlite")
    with pytest.raises(ConfigError, match="no config file"):
        load_settings(required=True)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[replies]\nlanguage = "nb"\n')
    monkeypatch.setenv("KOMMENTARVAKT_CONFIG", str(path))
    assert load_settings().replies.language == "nb"


def test_durations() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("2d").days == 2
    with pytest.raises(ValueError):
        parse_duration("")
