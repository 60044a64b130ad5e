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

    dialog.export()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    assert dialog.last_report.written == 2, dialog.summary.text()
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Jazz"]
    assert mutagen.File(folder / "t1.mp3")["TCON"].text == ["Rock", "Jazz"]
    assert dialog.batches.topLevelItemCount() == 1
    assert dialog.undo_button.isEnabled()
    assert "Export batch" in window.status_text.text()

    dialog.undo_last()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    assert dialog.last_report.restored == 2, dialog.summary.text()
    assert mutagen.File(folder / "t0.flac")["genre"] == ["Rock"]
    assert dialog.batches.topLevelItem(0).text(1) == "undone"
    assert not dialog.undo_button.isEnabled()
