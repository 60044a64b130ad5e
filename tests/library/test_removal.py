"""Removing tracks and folders from a real scanned library; files on disk stay."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import make_audio
from sqlalchemy import func, select

from tagger_core.cli import main as cli_main
from tagger_core.db.models import (
    Analysis,
    ExportBatch,
    ExportItem,
    LibraryRoot,
    Prediction,
    ReviewDecision,
    Track,
)
from tagger_core.errors import TaggerError
from tagger_core.library.removal import removal_impact, remove_from_library, resolve_paths
from tagger_core.library.scan import scan
from tagger_core.trust.review import decide, mark_reviewed, undo_last


def _folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        make_audio(root / f"t{i}.wav", seconds=0.2, seed=i)
    return root


def _count(library, table) -> int:
    with library.session() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def _ids(library, folder: Path) -> list[int]:
    with library.session() as s:
        return list(
            s.scalars(
                select(Track.id).where(Track.path_text.like(f"{folder}/%")).order_by(Track.path)
            )
        )


def _annotate(library, tid: int) -> None:
    """Give a track an analysis, a prediction and an export item, as real use would."""
    with library.session() as s:
        s.add(Analysis(track_id=tid, bundle_id="genre", bundle_version="1"))
        s.add(Prediction(track_id=tid, bundle_id="genre", confidences={"Rock": 0.9}))
        batch = ExportBatch(status="done")
        s.add(batch)
        s.flush()
        path = s.get(Track, tid).path
        s.add(ExportItem(batch_id=batch.id, track_id=tid, path=path, status="written"))


@pytest.fixture
def two_folders(library, tmp_path):
    a = _folder(tmp_path / "a", 3)
    b = _folder(tmp_path / "b", 2)
    scan(library, [a, b])
    return a, b


def test_impact_counts_tracks_and_live_decisions(library, two_folders):
    a, _b = two_folders
    ids = _ids(library, a)
    decide(library, ids[0], "genre", "Rock", "accept")
    decide(library, ids[0], "genre", "Pop", "reject")
    mark_reviewed(library, ids[0], "genre")
    decide(library, ids[1], "genre", "Jazz", "add")
    decide(library, ids[1], "genre", "Jazz", "reject")
    undo_last(library, ids[1])  # an undone decision is not lost work
    with library.session() as s:
        impact = removal_impact(s, ids[:2])
    assert (impact.tracks, impact.folders, impact.decisions, impact.reviewed_tracks) == (2, 0, 4, 2)
    assert "2 tracks and 4 review decisions (2 reviewed tracks)" == impact.sentence()


def test_remove_tracks_deletes_rows_and_their_outputs_but_not_files(library, two_folders):
    a, _b = two_folders
    ids = _ids(library, a)
    for tid in ids:
        _annotate(library, tid)
        decide(library, tid, "genre", "Rock", "accept")
    impact = remove_from_library(library, ids[:2])
    assert impact.tracks == 2 and impact.decisions == 2
    assert _ids(library, a) == ids[2:]
    assert _count(library, Track) == 3
    assert _count(library, Analysis) == 1 and _count(library, Prediction) == 1
    assert _count(library, ReviewDecision) == 1
    with library.session() as s:
        items = list(s.scalars(select(ExportItem).order_by(ExportItem.id)))
    assert [i.track_id for i in items] == [None, None, ids[2]], "export history is kept"
    assert sorted(p.name for p in a.iterdir()) == ["t0.wav", "t1.wav", "t2.wav"]


def test_removed_folder_is_not_rescanned(library, two_folders):
    a, b = two_folders
    with library.session() as s:
        tracks, roots = resolve_paths(s, [str(a)])
    assert tracks == [] and len(roots) == 1
    impact = remove_from_library(library, root_ids=roots)
    assert (impact.tracks, impact.folders) == (3, 1)
    with library.session() as s:
        left = [r.path_text for r in s.scalars(select(LibraryRoot))]
    assert left == [str(b)]
    assert _count(library, Track) == 2
    # A rescan of the remaining folders does not bring the removed folder back.
    scan(library, left)
    assert _ids(library, a) == [] and _count(library, Track) == 2


def test_resolve_paths_of_a_file_and_an_unknown_path(library, two_folders, tmp_path):
    a, _b = two_folders
    with library.session() as s:
        tracks, roots = resolve_paths(s, [str(a / "t1.wav")])
        assert roots == [] and tracks == _ids(library, a)[1:2]
        with pytest.raises(TaggerError, match="no library folder"):
            resolve_paths(s, [str(tmp_path / "elsewhere")])


def test_cli_remove(library, two_folders, capsys):
    a, _b = two_folders
    db = str(library.path)
    assert cli_main(["--db", db, "remove", "--dry-run", str(a)]) == 0
    assert "Would remove 1 folder with 3 tracks" in capsys.readouterr().out
    assert _count(library, Track) == 5
    assert cli_main(["--db", db, "remove", str(a / "t0.wav")]) == 0
    assert "Removed 1 track (no review decisions)" in capsys.readouterr().out
    assert _count(library, Track) == 4 and (a / "t0.wav").exists()
    assert cli_main(["--db", db, "remove", str(a / "gone.wav")]) == 2
