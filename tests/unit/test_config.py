"""The config tree: every old flat environment variable still sets its key, in its section; the nested
SECTION__KEY form, flat keyword construction and ``with_`` copies work; unknown keys are ignored."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from retrieval.settings import NESTED, SECTION_OF, SECTIONS, Settings


def _changed(field: str) -> tuple[str, object]:
    """(an environment value unlike the default, the value it reads as) for one flat key."""
    default = Settings.default(field)
    annotation = str(SECTIONS[SECTION_OF[field]].model_fields[field].annotation)
    if isinstance(default, bool):
        return ("false", False) if default else ("true", True)
    if isinstance(default, int):
        return str(default + 1), default + 1
    if isinstance(default, float):
        return str(default + 0.5), default + 0.5
    if isinstance(default, Path):
        return "some/where", Path("some/where")
    if "SecretStr" in annotation:
        return "s3cret-value", "s3cret-value"
    if "list[int]" in annotation:
        return "1,2", [1, 2]
    if "list[str]" in annotation:
        return "https://a.example/rss https://b.example/atom", ["https://a.example/rss", "https://b.example/atom"]
    return "another-value", "another-value"


def _read(settings: Settings, field: str) -> object:
    value = getattr(getattr(settings, SECTION_OF[field]), field)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.fixture(autouse=True)
def _no_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper() in Settings.env_names():
            monkeypatch.delenv(key)


def test_every_key_is_in_exactly_one_section_and_the_defaults_hold() -> None:
    fields = [field for model in SECTIONS.values() for field in model.model_fields]
    assert len(fields) == len(set(fields)) == len(SECTION_OF) == 62
    settings = Settings(_env_file=None)
    for field in fields:
        assert getattr(getattr(settings, SECTION_OF[field]), field) == Settings.default(field)


@pytest.mark.parametrize("field", sorted(SECTION_OF))
def test_every_old_flat_environment_variable_still_sets_its_key(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, expected = _changed(field)
    monkeypatch.setenv(field.upper(), raw)
    assert _read(Settings(_env_file=None), field) == expected
    monkeypatch.delenv(field.upper())
    monkeypatch.setenv(field.lower(), raw)  # read case-insensitively, as before
    assert _read(Settings(_env_file=None), field) == expected


@pytest.mark.parametrize("field", sorted(SECTION_OF))
def test_the_nested_name_sets_the_key_and_wins_over_the_flat_one(field: str, monkeypatch: pytest.MonkeyPatch) -> None:
    raw, expected = _changed(field)
    monkeypatch.setenv(f"{SECTION_OF[field]}{NESTED}{field}".upper(), raw)
    assert _read(Settings(_env_file=None), field) == expected
    monkeypatch.setenv(field.upper(), str(Settings.default(field)))
    assert _read(Settings(_env_file=None), field) == expected


def test_the_env_file_takes_flat_and_nested_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("TOP_K=9\nINDEX__CHUNK_SIZE=800\nNOT_A_SETTING=1\n", encoding="utf-8")
    settings = Settings(_env_file=env)
    assert (settings.search.top_k, settings.index.chunk_size) == (9, 800)
    monkeypatch.setenv("TOP_K", "4")  # the environment overrides .env
    assert Settings(_env_file=env).search.top_k == 4


def test_flat_and_sectioned_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOP_K", "8")
    settings = Settings(_env_file=None, top_k=3, embedder="fake", feeds="https://a.example/rss", dense_weight=0.5)
    assert (settings.search.top_k, settings.search.dense_weight, settings.embedder.embedder) == (3, 0.5, "fake")
    assert settings.feeds.feeds == ["https://a.example/rss"]
    assert Settings(_env_file=None, search={"mode": "bm25"}).search.top_k == 8  # a section given in part keeps the rest
    assert Settings(_env_file=None, search={"top_k": 2}, top_k=6).search.top_k == 6  # the flat key beside it wins


def test_unknown_keys_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH__NO_SUCH_KEY", "1")
    monkeypatch.setenv("INDEX", "not a section")
    assert Settings(_env_file=None, no_such_key=1) == Settings(_env_file=None)


def test_with_returns_a_changed_copy_and_leaves_the_original() -> None:
    settings = Settings(_env_file=None)
    copy = settings.with_(top_k=2, chunk_size="900", index_dir="elsewhere", spelling=False)
    assert (copy.search.top_k, copy.index.chunk_size, copy.index.index_dir, copy.understand.spelling) == (
        2, 900, Path("elsewhere"), False)
    assert (settings.search.top_k, settings.index.chunk_size, settings.understand.spelling) == (5, 1200, True)
    assert copy.answer is settings.answer or copy.answer == settings.answer
    with pytest.raises(TypeError, match="not a setting: no_such_key"):
        settings.with_(no_such_key=1)
    with pytest.raises(ValueError):
        settings.with_(top_k="many")


def test_secrets_stay_secret() -> None:
    settings = Settings(_env_file=None, telegram_bot_token="123:abc", milvus_token="root:pw")
    assert "abc" not in repr(settings) and "root:pw" not in repr(settings)
    assert settings.telegram.telegram_bot_token.get_secret_value() == "123:abc"
