"""Labels from the files' own tags, read from real scanned files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from audio_files import make_audio, tag_file
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TMCL
from sqlalchemy import select

from tagger_core.db.models import Track
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES
from tagger_core.library.scan import scan
from tagger_core.training.archive_labels import label_rows, vocabulary_from_app
from tagger_core.trust.predictions import existing_label_matrix
from tagger_core.trust.tag_labels import tag_label_matrix


def _library_of_credits(library, tmp_path: Path) -> dict[str, int]:
    folder = tmp_path / "music"
    folder.mkdir()
    a = make_audio(folder / "a.flac", seed=1)
    tag_file(a, title="a", genres=["Rock"])
    audio = FLAC(a)
    audio["PERFORMER"] = ["Anne (violin)", "Bob (alto saxophone)"]
    audio.save()
    b = make_audio(folder / "b.mp3", seed=2)
    tag_file(b, title="b", genres=["Jazz"])
    tags = ID3(b)
    tags.add(TMCL(encoding=3, people=[["Hammond", "Carl"]]))
    tags.save(b, v2_version=4)
    c = make_audio(folder / "c.flac", seed=3)
    tag_file(c, title="c", genres=["Unheard-of Genre"])
    scan(library, [folder])
    with library.session() as s:
        return {t.title: t.id for t in s.scalars(select(Track))}


def test_instrument_families_from_scanned_credits(library, tmp_path: Path) -> None:
    ids = _library_of_credits(library, tmp_path)
    order = np.array([ids["a"], ids["b"], ids["c"]])
    with library.session() as s:
        m = tag_label_matrix(s, "instruments", INSTRUMENT_FAMILIES, order)
    on = [{INSTRUMENT_FAMILIES[c] for c in np.flatnonzero(row)} for row in m]
    assert on == [{"string", "reed"}, {"organ"}, set()]


def test_genre_tags_give_labels_and_only_genres_feed_contradiction_flags(
    library, tmp_path: Path
) -> None:
    ids = _library_of_credits(library, tmp_path)
    order = np.array([ids["a"], ids["b"], ids["c"]])
    labels = ("Rock", "Jazz", "Pop")
    with library.session() as s:
        genre = tag_label_matrix(s, "genre", labels, order)
        assert existing_label_matrix(s, "instruments", INSTRUMENT_FAMILIES, order) is None
        assert tag_label_matrix(s, "mood", labels, order) is None
    assert genre.tolist() == [[True, False, False], [False, True, False], [False, False, False]]


def test_train_heads_from_tags_reads_instrument_credits(library, tmp_path: Path) -> None:
    ids = _library_of_credits(library, tmp_path)
    vocab = vocabulary_from_app("instruments", use_tags=True)
    with library.session() as s:
        y, counts = label_rows(s, vocab, [ids["a"], ids["b"], ids["c"]])
    assert counts["from_tags"] == 2
    string, organ = INSTRUMENT_FAMILIES.index("string"), INSTRUMENT_FAMILIES.index("organ")
    assert y[0, string] == 1 and y[0, organ] == 0  # a tagged track: absent family negative
    assert y[1, organ] == 1
    assert (y[2] == -1).all()  # no credit: unknown, not negative
