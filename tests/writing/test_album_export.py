"""Album-wide genres on export (beets' default) vs per track, with the dry run grouped by album."""

from __future__ import annotations

from pathlib import Path

import pytest
from album_files import make_albums
from album_outputs import analyse_scanned_albums
from sqlalchemy import select

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.models import Track
from tagger_core.library.file_tags import read_tags
from tagger_core.library.scan import scan
from tagger_core.trust.review import decide, mark_reviewed
from tagger_core.writing.album_plan import plan_with_albums
from tagger_core.writing.options import ExportOptions


@pytest.fixture
def archive(tmp_path: Path):
    library = open_library(tmp_path / "lib.db")
    files = make_albums(tmp_path / "music")
    scan(library, [tmp_path / "music"])
    ids = analyse_scanned_albums(library)
    yield library, files, ids, str(tmp_path / "lib.db")
    library.close()


def test_album_genres_override_the_odd_track_and_per_track_does_not(archive) -> None:
    library, _, ids, _ = archive
    options = dict(tasks=("genre",), policy="replace", min_confidence=0.5)
    with library.session() as s:
        per_track = {p.track_id: p for p in plan_with_albums(s, ExportOptions(**options))}
        by_album = {
            p.track_id: p
            for p in plan_with_albums(s, ExportOptions(**options, album_genres=True))
        }
    assert per_track[ids["Blue 4"]].accept["genre"] == ["Rock"]
    assert by_album[ids["Blue 4"]].accept["genre"] == ["Jazz"]  # the album's genre
    assert by_album[ids["Blue 1"]].accept["genre"] == ["Jazz"]
    assert by_album[ids["Loose"]].accept == per_track[ids["Loose"]].accept  # in no album


def test_reviewed_album_genres_win_by_majority(archive) -> None:
    library, _, ids, _ = archive
    for title in ("Blue 1", "Blue 2", "Blue 3"):
        decide(library, ids[title], "genre", "Blues", "add")
        mark_reviewed(library, ids[title], "genre")
    decide(library, ids["Blue 4"], "genre", "Punk", "add")  # one track's own say
    with library.session() as s:
        plans = {
            p.track_id: p
            for p in plan_with_albums(s, ExportOptions(tasks=("genre",), album_genres=True))
        }
    assert plans[ids["Blue 4"]].accept["genre"] == ["Blues"]  # 3 of 4 tracks: the album's
    assert ids["Kind 1"] not in plans  # nothing decided on that album, no min confidence


def test_cli_export_album_genres_writes_files_and_groups_the_dry_run(archive, capsys) -> None:
    _, files, _, db = archive
    args = ["--db", db, "export", "--genres", "--policy", "replace", "--min-confidence", "0.5"]
    assert main([*args, "--album-genres", "--dry-run"]) == 0
    out = capsys.readouterr().out
    headings = [line for line in out.splitlines() if line.startswith("== ")]
    # Kind of Blue is tagged Jazz already: nothing to change there
    assert headings == ["== John Coltrane – Blue Train ==", "== not in an album =="]
    blue4 = str(files["blue"][3])
    block = out.split(blue4, 1)[1].split("\n==", 1)[0]
    assert '["Jazz"]' in block.splitlines()[1]
    assert read_tags(blue4).genres == ["Rock"]  # a dry run writes nothing

    assert main([*args, "--album-genres"]) == 0
    capsys.readouterr()
    assert read_tags(blue4).genres == ["Jazz"]
    assert all(read_tags(p).genres == ["Jazz"] for p in files["blue"] + files["kind"])


def test_dry_run_groups_interleaved_albums(tmp_path: Path) -> None:
    from album_files import make_track

    from tagger_core.writing.batch import run_export

    library = open_library(tmp_path / "mixed.db")
    folder = tmp_path / "one folder"
    for name, album, mb in (("a.flac", "One", "mb-1"), ("b.flac", "Two", "mb-2"),
                            ("c.flac", "One", "mb-1")):  # fmt: skip
        make_track(folder / name, title=name, artist="X", album=album, genres=["Rock"],
                   track=1, mb_album_id=mb)  # fmt: skip
    scan(library, [folder])
    with library.session() as s:
        ids = sorted(s.scalars(select(Track.id)))
    for tid in ids:
        decide(library, tid, "genre", "Jazz", "accept")
    report = run_export(library, ExportOptions(tasks=("genre",)), dry_run=True)
    assert [Path(d.path).name for d in report.diffs] == ["a.flac", "c.flac", "b.flac"]
    assert [d.album for d in report.diffs] == ["X – One", "X – One", "X – Two"]
    library.close()
