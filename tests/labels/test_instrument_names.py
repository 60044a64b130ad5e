"""The shipped instrument-name table and a user's file merged on top of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagger_core.errors import ConfigError
from tagger_core.labels.instrument_names import (
    USER_TABLE_ENV,
    credited_instruments,
    load_instrument_normalizer,
)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("violin", "string"),
        ("Alto Saxophone", "reed"),
        ("Hammond", "organ"),
        ("fretless electric bass", "bass"),
        ("solo piano", "keyboard"),
        ("Lead Vocals", "vocal"),
        ("synth_lead", "synth_lead"),
        ("bass trombone", "brass"),
    ],
)
def test_shipped_table(name: str, family: str) -> None:
    assert load_instrument_normalizer().families_of(name) == (family,)


def test_unknown_names_are_not_guessed() -> None:
    match = load_instrument_normalizer().match(["theorbo-ish thing", "violin"])
    assert match.families == ("string",)
    assert match.unknown == ("theorbo-ish thing",)


def test_user_file_adds_and_unmaps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = tmp_path / "mine.toml"
    extra.write_text('unmap = ["harp"]\n[families]\nmallet = ["hang drum"]\nguitar = ["harp"]\n')
    monkeypatch.setenv(USER_TABLE_ENV, str(extra))
    table = load_instrument_normalizer()
    assert table.families_of("hang drum") == ("mallet",)
    assert table.families_of("harp") == ("guitar",)
    monkeypatch.delenv(USER_TABLE_ENV)
    assert load_instrument_normalizer().families_of("harp") == ("string",)


def test_bad_user_file_is_one_line_error(tmp_path: Path) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text('[families]\nkazoo = ["kazoo"]\n')
    with pytest.raises(ConfigError, match="unknown instrument family 'kazoo'"):
        load_instrument_normalizer(extra)


def test_credits_need_an_instrument_and_the_field_is_named() -> None:
    raw = {
        "PERFORMER": ["Anne (violin)", "Bob"],
        "txxx:Instruments": ["reed"],
        "COMMENT": ["(cello)"],
    }
    assert credited_instruments(raw) == ["violin", "reed"]
    assert credited_instruments({"MYFIELD": ["organ"]}, field="MYFIELD") == ["organ"]
