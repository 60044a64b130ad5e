"""Export batches: planning from decisions/predictions, dry runs, undo, resume."""

from __future__ import annotations

import json
from pathlib import Path

import mutagen
from sqlalchemy import select

from tagger_core.db.models import ExportBatch, ExportItem, Prediction, Track
from tagger_core.library.file_tags import read_tags
from tagger_core.library.scan import scan
from tagger_core.trust.review import decide, mark_reviewed, undo_last
from tagger_core.writing import ExportOptions, list_batches, run_export, undo_batch
from tagger_core.writing.plan import plan_exports, target_values
from tagger_core.writing.registry import system_for

from .helpers import AVAILABLE, scan_and_decide


def _all_fields(path: Path) -> dict[str, list[str]]:
    fmt = read_tags(path).format
    return system_for(fmt, ExportOptions()).read_all(str(path))


def test_target_values_merge_and_replace() -> None:
    existing = ["Duo Cello/Klavier", "rock", "Pop"]
    assert target_values(existing, ["Rock", "Jazz"], ["Pop"], "merge") == [
        "Duo Cello/Klavier",
        "rock",
        "Jazz",
    ]
    assert target_values(existing, ["Rock", "Jazz"], ["Pop"], "replace") == ["Rock", "Jazz"]


def test_plan_uses_latest_live_decisions_and_predictions(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    make_files(music, [".mp3", ".flac"])
    scan(library, [music])
    with library.session() as s:
        a, b = [t.id for t in s.scalars(select(Track).order_by(Track.path))]
        s.add(Prediction(track_id=b, bundle_id="genre", confidences={"Jazz": 0.9, "Pop": 0.3}))
        # instruments come from the bundle the app shows (instrument-family), not the MTT one
        s.add(Prediction(track_id=b, bundle_id="instrument-family",
                         confidences={"string": 0.8, "bass": 0.2}))
        s.add(Prediction(track_id=b, bundle_id="instruments", confidences={"guitar": 0.95}))
    decide(library, a, "genre", "Jazz", "accept")
    decide(library, a, "genre", "Jazz", "reject")  # newest decision wins
    decide(library, a, "genre", "Funk", "add")
    decide(library, a, "genre", "Metal", "accept")
    undo_last(library, a)  # Metal undone
    decide(library, b, "instruments", "bass", "accept")
    mark_reviewed(library, a, "genre")

    with library.session() as s:
        plans = {p.track_id: p for p in plan_exports(s, ExportOptions())}
        assert plans[a].accept == {"genre": ["Funk"]}
        assert plans[a].reject == {"genre": ["Jazz"]}
        assert plans[b].accept == {"instruments": ["bass"]}
        confident = {p.track_id: p for p in plan_exports(s, ExportOptions(min_confidence=0.5))}
        assert confident[b].accept == {"genre": ["Jazz"], "instruments": ["bass", "string"]}
        reviewed = plan_exports(s, ExportOptions(only_reviewed=True))
        assert [p.track_id for p in reviewed] == [a]
        only_instruments = plan_exports(s, ExportOptions(tasks=("instruments",)))
        assert [p.track_id for p in only_instruments] == [b]
        under = plan_exports(s, ExportOptions(), paths=[str(music / "track000.flac")])
        assert [p.track_id for p in under] == [a]


def test_dry_run_writes_nothing_and_shows_diff(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac"])
    scan_and_decide(library, music)
    before = {p: p.read_bytes() for p in paths}

    report = run_export(library, ExportOptions(), dry_run=True)

    assert {p: p.read_bytes() for p in paths} == before
    assert report.written == 2 and report.batch_id is None
    diffs = {Path(d.path).suffix: d.changes for d in report.diffs}
    assert diffs[".mp3"]["TCON"] == (
        ["Duo Cello/Klavier", "Rock"],
        ["Duo Cello/Klavier", "Rock", "Jazz", "Blues"],
    )
    assert diffs[".flac"]["INSTRUMENTS"] == (None, ["bass"])
    with library.session() as s:
        assert s.scalar(select(ExportBatch)) is None


def test_undo_restores_identical_tag_values(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    paths = make_files(music)
    originals = {p: _all_fields(p) for p in paths}
    scan_and_decide(library, music)
    report = run_export(library, ExportOptions(provenance=True, policy="replace"))
    assert report.written == len(paths), report.problems
    assert all(_all_fields(p) != originals[p] for p in paths)

    undone = undo_batch(library, report.batch_id)

    assert undone.restored == len(paths), undone.problems
    for p in paths:
        assert _all_fields(p) == originals[p], p.suffix
        assert mutagen.File(p) is not None
    with library.session() as s:
        batch = s.get(ExportBatch, report.batch_id)
        assert batch.status == "undone"
        statuses = set(s.scalars(select(ExportItem.status)))
        assert statuses == {"restored"}
    # Undo twice is harmless: nothing is left to restore.
    assert undo_batch(library, report.batch_id).restored == 0


def test_undo_skips_files_changed_after_export(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    (path,) = make_files(music, [".flac"])
    scan_and_decide(library, music)
    report = run_export(library, ExportOptions())
    audio = mutagen.File(path)
    audio["genre"] = ["Edited By Hand"]
    audio.save()
    undone = undo_batch(library, report.batch_id)
    assert undone.restored == 0 and undone.skipped == 1
    assert mutagen.File(path)["genre"] == ["Edited By Hand"]


def test_rerun_is_idempotent_and_db_rows_refreshed(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".ogg"])
    scan_and_decide(library, music)
    first = run_export(library, ExportOptions())
    second = run_export(library, ExportOptions())
    assert first.written == 2
    assert second.written == 0 and second.unchanged == 2
    with library.session() as s:
        for t in s.scalars(select(Track)):
            assert "Jazz" in t.genres
            p = Path(t.path_text)
            assert (t.size, t.mtime_ns) == (p.stat().st_size, p.stat().st_mtime_ns)
    assert [b["status"] for b in list_batches(library)] == ["done", "done"]
    assert paths


def test_provenance_field_is_json(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    (path,) = make_files(music, [".flac"])
    ((tid, _),) = scan_and_decide(library, music)
    with library.session() as s:
        s.add(Prediction(track_id=tid, bundle_id="genre", confidences={"Jazz": 0.91234567}))
    run_export(library, ExportOptions(provenance=True))
    data = json.loads(mutagen.File(path)["MUSIC_TAGGER_PROVENANCE"][0])
    assert data["music_tagger"]["genre"]["confidences"] == {"Jazz": 0.9123}
    assert "MUSIC_TAGGER_PROVENANCE" not in _fields_without_provenance(
        library, tmp_path, make_files
    )


def _fields_without_provenance(library, tmp_path, make_files) -> dict[str, list[str]]:
    music = tmp_path / "other"
    (path,) = make_files(music, [".flac"])
    scan_and_decide(library, music)
    run_export(library, ExportOptions(), paths=[str(music)])
    return _all_fields(path)


def test_resume_completes_an_interrupted_batch(library, tmp_path, make_files) -> None:
    """Simulate the three crash points: before prepare, after prepare, after replace."""
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac", ".ogg"])
    scan_and_decide(library, music)
    # A completed export on copies tells what "wholly new" looks like.
    from tagger_core.writing.batch import _fields_changes
    from tagger_core.writing.plan import plan_exports as plan

    options = ExportOptions()
    with library.session() as s:
        plans = {p.track_id: p for p in plan(s, options)}
        tracks = {t.path_text: t for t in s.scalars(select(Track))}
        batch = ExportBatch(kind="export", options={"export": options.to_dict()})
        s.add(batch)
        s.flush()
        batch_id = batch.id
        for i, p in enumerate(paths):
            t = tracks[str(p)]
            system = system_for(t.format, options)
            current = system.read_all(str(p))
            old, new = _fields_changes(system, current, plans[t.id], options)
            item = ExportItem(
                batch_id=batch_id,
                track_id=t.id,
                path=t.path,
                new_tags={"plan": plans[t.id].to_dict()},
                old_tags={},
            )
            if i >= 1:  # prepared before the crash
                from tagger_core.writing.digest import audio_digest

                item.old_tags = {
                    "system": system.name,
                    "format": t.format,
                    "fields": old,
                    "digest": audio_digest(p, t.format),
                }
                item.new_tags = {**item.new_tags, "fields": new}
            if i == 2:  # and the file was replaced, but the commit never happened
                system.write(str(p), new, options)
            s.add(item)

    report = run_export(library, options)

    assert report.resumed == [batch_id]
    with library.session() as s:
        items = list(s.scalars(select(ExportItem).where(ExportItem.batch_id == batch_id)))
        assert [i.status for i in items] == ["written"] * 3
        assert s.get(ExportBatch, batch_id).status == "done"
    for p in paths:
        fmt = read_tags(p).format
        system = system_for(fmt, options)
        assert system.read_all(str(p))[system.fold("GENRE" if fmt != "mp3" else "TCON")][-2:] == [
            "Jazz",
            "Blues",
        ]
    # Undo of the resumed batch restores the recorded old values, also for the third file.
    assert undo_batch(library, batch_id).restored == 3
    for p in paths:
        assert "Jazz" not in read_tags(p).genres


def test_every_format_in_one_batch(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    paths = make_files(music, AVAILABLE)
    scan_and_decide(library, music)
    report = run_export(library, ExportOptions())
    assert report.written == len(paths) and not report.problems


def test_non_utf8_file_name(library, tmp_path, templates) -> None:
    import os
    import shutil

    music = tmp_path / "music"
    music.mkdir()
    raw = os.fsencode(str(music)) + b"/caf\xe9 latin-1.flac"
    shutil.copyfile(templates[".flac"], raw)
    scan_and_decide(library, music)
    report = run_export(library, ExportOptions())
    assert report.written == 1, report.problems
    assert mutagen.File(os.fsdecode(raw))["genre"][-2:] == ["Jazz", "Blues"]
    assert undo_batch(library, report.batch_id).restored == 1
    assert mutagen.File(os.fsdecode(raw))["genre"] == ["Duo Cello/Klavier", "Rock"]


def test_unsupported_format_is_reported_not_fatal(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    make_files(music, [".flac"])
    scan_and_decide(library, music)
    with library.session() as s:
        s.scalar(select(Track)).format = "aac"  # raw ADTS carries no tag system we write
    report = run_export(library, ExportOptions())
    assert report.written == 0 and report.skipped == 1 and report.failed == 0
    assert "cannot write tags to aac files" in report.problems[0]


def test_undo_interrupted_after_a_replace_is_completed(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".ogg"])
    originals = {p: _all_fields(p) for p in paths}
    scan_and_decide(library, music)
    report = run_export(library, ExportOptions())
    # The first file was restored by an undo that died before recording it.
    with library.session() as s:
        item = s.scalars(select(ExportItem).order_by(ExportItem.id)).first()
        fmt = item.old_tags["format"]
        first = Path(item.path.decode())
        system_for(fmt, ExportOptions()).write(str(first), item.old_tags["fields"], ExportOptions())

    undone = undo_batch(library, report.batch_id)

    assert undone.restored == 2 and not undone.problems
    assert {p: _all_fields(p) for p in paths} == originals
