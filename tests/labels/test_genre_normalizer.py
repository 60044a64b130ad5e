"""Genre-name normalisation: synonyms, ID3v1 numbers, user extensions, unknowns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mutagen._constants import GENRES as MUTAGEN_GENRES

from tagger_core.errors import ConfigError, TaggerError
from tagger_core.labels.genre_normalizer import (
    GENRE_LABELS,
    GenreMatch,
    genre_key,
    load_genre_normalizer,
)


@pytest.fixture(scope="module")
def normalizer():
    return load_genre_normalizer()


def test_labels_are_exactly_the_apps() -> None:
    assert GENRE_LABELS == (
        "Rock", "Pop", "Electronic", "Dance", "Jazz", "Metal", "Folk", "Punk", "Blues",
        "Hip-Hop", "Country", "Soul & R&B", "Funk", "Ambient", "Classical",
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [("Hip Hop", "hiphop"), ("hip-hop", "hiphop"), ("HIPHOP", "hiphop"),
     ("Drum & Bass", "drumandbass"), ("Rock 'n' Roll", "rocknroll"), ("Électro", "electro"),
     ("R&B", "randb"), ("  Jazz+Funk ", "jazzandfunk")],
)
def test_genre_key(text: str, key: str) -> None:
    assert genre_key(text) == key


@pytest.mark.parametrize(
    ("value", "labels"),
    [
        ("Hip Hop", ("Hip-Hop",)),
        ("hiphop", ("Hip-Hop",)),
        ("Rap", ("Hip-Hop",)),
        ("HIP-HOP", ("Hip-Hop",)),
        ("rock", ("Rock",)),
        ("Rock & Roll", ("Rock",)),
        ("rock and roll", ("Rock",)),
        ("R&B", ("Soul & R&B",)),
        ("RnB", ("Soul & R&B",)),
        ("soul & r&b", ("Soul & R&B",)),
        ("Jazz+Funk", ("Jazz", "Funk")),
        ("Heavy Metal", ("Metal",)),
        ("Classique", ("Classical",)),
        ("(17)", ("Rock",)),
        ("17", ("Rock",)),
        ("(32)", ("Classical",)),
        ("(9)(8)", ("Jazz", "Metal")),
        ("(0)Blues", ("Blues",)),
        ("Rock; Pop", ("Rock", "Pop")),
        ("Electronic/Dance", ("Electronic", "Dance")),
        ("Pop/Funk", ("Pop", "Funk")),
        ("(255)", ()),
    ],
)
def test_known_strings_map_to_labels(normalizer, value: str, labels: tuple[str, ...]) -> None:
    result = normalizer.match(value)
    assert result.labels == labels
    assert result.unknown == ()


def test_unknown_strings_are_returned_separately(normalizer) -> None:
    result = normalizer.match(["Rock", "Vaporwave Nightcore", "(12)", "(250)", "(RX)"])
    assert result.labels == ("Rock",)
    assert result.unknown == ("Vaporwave Nightcore", "Other", "(250)", "(RX)")
    assert normalizer.match("Soundtrack").labels == ()
    assert normalizer.match("").labels == () and normalizer.match("").unknown == ()


def test_several_values_are_merged_in_label_order(normalizer) -> None:
    result = normalizer.match(["Jazz", "rock", "Hip Hop", "jazz"])
    assert result.labels == ("Rock", "Jazz", "Hip-Hop")
    assert GenreMatch.from_dict(result.to_dict()) == result


def test_id3v1_table_is_complete_and_agrees_with_mutagen(normalizer) -> None:
    names = normalizer.id3v1_names
    assert sorted(names) == list(range(192))
    # spellings differ between sources; what matters is that both map alike
    for number, theirs in enumerate(MUTAGEN_GENRES):
        assert normalizer.labels_for(names[number]) == normalizer.labels_for(theirs), number


def test_every_label_has_synonyms_and_a_numbered_genre(normalizer) -> None:
    mapped = {label for name in normalizer.id3v1_names.values()
              for label in normalizer.labels_for(name)}
    assert mapped == set(GENRE_LABELS)


def test_label_matrix(normalizer) -> None:
    m = normalizer.label_matrix(["Rock", ["Jazz", "Blues"], "", "(17)", "Unheard-of"])
    assert m.shape == (5, 15)
    assert m.dtype == np.uint8
    assert m[0, GENRE_LABELS.index("Rock")] == 1 and m[0].sum() == 1
    assert m[1, GENRE_LABELS.index("Jazz")] == 1 and m[1, GENRE_LABELS.index("Blues")] == 1
    assert m[2].sum() == 0 and m[4].sum() == 0
    assert m[3, 0] == 1


def test_user_file_extends_and_unmaps(tmp_path: Path) -> None:
    extra = tmp_path / "my_genres.toml"
    extra.write_text(
        'unmap = ["Alternative"]\n'
        "[synonyms]\n"
        'Jazz = ["Gypsy Swing", "Manouche"]\n'
        '"Soul & R&B" = ["Philly"]\n'
        "[id3v1]\n"
        '12 = "Rock"\n',
        encoding="utf-8",
    )
    normalizer = load_genre_normalizer(extra)
    assert normalizer.match("manouche").labels == ("Jazz",)
    assert normalizer.match("Philly").labels == ("Soul & R&B",)
    assert normalizer.match("(12)").labels == ("Rock",)
    assert normalizer.match("alternative").labels == ()
    assert normalizer.match("alternative").unknown == ("alternative",)
    assert normalizer.match("jazz").labels == ("Jazz",)  # shipped synonyms kept
    assert load_genre_normalizer().match("alternative").labels == ("Rock",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[synonyms]\nJaz = ["x"]\n', "unknown genre label 'Jaz'"),
        ("[synonyms\n", "not valid TOML"),
        ('[synonyms]\nJazz = "x"\n', "list of strings"),
        ('[id3v1]\nseventeen = "Rock"\n', "genre numbers"),
    ],
)
def test_bad_user_files_raise_config_error(tmp_path: Path, content: str, message: str) -> None:
    extra = tmp_path / "bad.toml"
    extra.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_genre_normalizer(extra)


def test_missing_user_file(tmp_path: Path) -> None:
    with pytest.raises(TaggerError, match="not found"):
        load_genre_normalizer(tmp_path / "nope.toml")
