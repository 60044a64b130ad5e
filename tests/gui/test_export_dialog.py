"""The export dialog on real tagged files: preview diff, export, undo the batch."""

from __future__ import annotations

import mutagen
from audio_files import make_audio, tag_file
from sqlalchemy import select

from tagger_core.db.models import Track
from tagger_core.library.scan import scan
from tagger_core.trust.review import decide


def test_preview_export_and_undo(qtbot, window, library, tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    for i, ext in enumerate((".flac", ".mp3")):
        path = make_audio(folder / f"t{i}{ext}", seconds=0.4, seed=i)
        tag_file(path, title=f"T{i}", genres=["Rock"])
    scan(library, [folder])
    with library.session() as s:
        ids = list(s.scalars(select(Track.id).order_by(Track.path)))
    for tid in ids:
        decide(library, tid, "genre", "Jazz", "accept", 0.8)
    decide(library, ids[0], "genre", "Rock", "reject", 0.2)

    dialog = window.open_export()
    assert not dialog.undo_button.isEnabled()
    dialog.instruments.setChecked(False)
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    assert dialog.last_report is not None and dialog.last_report.dry_run
    assert dialog.diff.topLevelItemCount() == 2
    first = dialog.diff.topLevelItem(0)
    assert first.text(0).endswith("t0.flac")
    fields = {first.child(i).text(0): first.child(i) for i in range(first.childCount())}
    genre = next(v for k, v in fields.items() if "genre" in k.lower())
    assert genre.text(1) == "Rock" and genre.text(2) == "Jazz"
    assert "2 files would change" in dialog.summary.text()
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Rock"], "preview must not write"

    asked: list[str] = []
    dialog.confirm = lambda question: asked.append(question) is None
    dialog.export()
    qtbot.waitUntil(lambda: dialog.job is None and not dialog.last_report.dry_run, timeout=60000)
    assert asked == [
        "Write 2 field changes into 2 files?\n\nEach file is replaced by a verified copy; "
        "the old values are kept, so the batch can be undone."
    ]
    assert dialog.last_report.written == 2, dialog.summary.text()
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Jazz"]
    assert mutagen.File(folder / "t1.mp3")["TCON"].text == ["Rock", "Jazz"]
    assert dialog.batches.topLevelItemCount() == 1
    assert dialog.undo_button.isEnabled()
    assert "Export batch" in window.status_text.text()
    # The diff is refreshed: the files now hold what was written, nothing is left to change.
    assert dialog.diff.topLevelItemCount() == 0

    dialog.undo_last()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    assert dialog.last_report.restored == 2, dialog.summary.text()
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Rock"]
    assert dialog.batches.topLevelItem(0).text(1) == "undone"
    assert not dialog.undo_button.isEnabled()
    first = dialog.diff.topLevelItem(0)
    assert first is not None and first.child(0).text(1) == "Rock", "Now shows the restored value"


def _two_tracks(library, tmp_path):
    folder = tmp_path / "music"
    folder.mkdir()
    for i in range(2):
        tag_file(make_audio(folder / f"t{i}.flac", seconds=0.4, seed=i), genres=["Rock"])
    scan(library, [folder])
    with library.session() as s:
        ids = list(s.scalars(select(Track.id).order_by(Track.path)))
    for tid in ids:
        decide(library, tid, "genre", "Jazz", "accept", 0.8)
    return folder, ids


def test_export_writes_nothing_when_not_confirmed(qtbot, window, library, tmp_path):
    folder, _ids = _two_tracks(library, tmp_path)
    dialog = window.open_export()
    dialog.confirm = lambda _question: False
    dialog.export()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    assert "Export not started" in dialog.summary.text()
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Rock"]
    assert dialog.batches.topLevelItemCount() == 0


def test_export_of_the_selection_only(qtbot, window, library, tmp_path):
    folder, ids = _two_tracks(library, tmp_path)
    dialog = window.open_export()
    dialog.set_selection(ids[1:])
    assert dialog.only_selection.isVisible() and "1 selected track" in dialog.only_selection.text()
    dialog.confirm = lambda _question: True
    dialog.export()
    qtbot.waitUntil(lambda: dialog.job is None and not dialog.last_report.dry_run, timeout=60000)
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Rock"]
    assert mutagen.File(folder / "t1.flac")["genre"] == ["Rock", "Jazz"]


def test_instrument_families_ticked_says_why_nothing_is_written(qtbot, window, library, tmp_path):
    _two_tracks(library, tmp_path)
    dialog = window.open_export()
    assert dialog.instruments.isChecked()
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    text = dialog.summary.text()
    assert "2 files would change" in text
    assert "Instrument families: nothing to write" in text and "no track here" in text
