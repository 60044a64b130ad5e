"""Undo gives every file back byte for byte, or its tag values and says so."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import mutagen
import pytest
from audio_files import make_audio, tag_file
from sqlalchemy import select

from tagger_core.db.models import ExportBatch, ExportItem
from tagger_core.errors import ConfigError
from tagger_core.library.file_tags import read_tags
from tagger_core.writing import BackupSettings, ExportOptions, run_export, undo_batch
from tagger_core.writing.backups import ENV_DIR, ENV_KEEP_DAYS, ENV_MAX_MB, STAMP, prune
from tagger_core.writing.registry import system_for

from .helpers import AVAILABLE, scan_and_decide

COPY = BackupSettings()
REGIONS = BackupSettings(max_copy_bytes=0)  # every file over the limit: tag regions only


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fields(path: Path) -> dict[str, list[str]]:
    return system_for(read_tags(path).format, ExportOptions()).read_all(str(path))


def _items(library) -> dict[str, ExportItem]:
    with library.session() as s:
        return {os.fsdecode(i.path): i for i in s.scalars(select(ExportItem))}


def _folder(library, batch_id: int) -> Path:
    with library.session() as s:
        return Path(s.get(ExportBatch, batch_id).options["backups"]["folder"])


@pytest.mark.parametrize("settings", [COPY, REGIONS], ids=["copies", "tag-regions"])
@pytest.mark.parametrize(
    "options",
    [ExportOptions(policy="replace", provenance=True), ExportOptions(id3_version=3)],
    ids=["id3v24-replace-provenance", "id3v23-merge"],
)
def test_export_then_undo_is_byte_exact_for_every_format(
    library, tmp_path, make_files, settings, options
) -> None:
    music = tmp_path / "music"
    paths = make_files(music, AVAILABLE, copies=2)
    scan_and_decide(library, music)
    before = {p: sha(p) for p in paths}

    report = run_export(library, options, backups=settings)
    assert report.written == len(paths), report.problems
    assert all(sha(p) != before[p] for p in paths)
    kind = "copy" if settings is COPY else "regions"
    for path, item in _items(library).items():
        assert item.old_tags["sha256"] == before[Path(path)]
        assert item.old_tags["backup"]["kind"] == kind
        assert item.new_tags["sha256"] == sha(Path(path))
    folder = _folder(library, report.batch_id)
    assert len(list(folder.iterdir())) == len(paths)

    undone = undo_batch(library, report.batch_id)

    assert undone.restored == len(paths) and undone.inexact == 0, undone.problems
    assert {p: sha(p) for p in paths} == before
    assert {i.message for i in _items(library).values()} == {"restored byte for byte"}
    assert not folder.exists()  # a fully undone batch needs its backups no more
    assert not list(music.glob(".*tmp"))


def test_file_changed_after_export_gets_values_back_and_is_reported(
    library, tmp_path, make_files
) -> None:
    music = tmp_path / "music"
    edited, untouched = make_files(music, [".flac", ".mp3"])
    scan_and_decide(library, music)
    originals = {p: (sha(p), _fields(p)) for p in (edited, untouched)}
    report = run_export(library, ExportOptions())
    audio = mutagen.File(edited)
    audio["title"] = ["Retitled after the export"]
    audio.save()

    undone = undo_batch(library, report.batch_id)

    assert undone.restored == 2 and undone.inexact == 1
    assert sha(untouched) == originals[untouched][0]
    assert sha(edited) != originals[edited][0]
    fields = _fields(edited)
    assert fields["TITLE"] == ["Retitled after the export"]  # a later edit is kept
    assert fields["GENRE"] == originals[edited][1]["GENRE"]
    assert "INSTRUMENTS" not in fields
    (line,) = undone.problems
    assert str(edited) in line and "not byte for byte: the file changed since the export" in line
    message = _items(library)[str(edited)].message
    assert message == "tag values restored, not byte for byte: the file changed since the export"


@pytest.mark.parametrize("settings", [COPY, REGIONS], ids=["copies", "tag-regions"])
def test_backup_gone_or_corrupt_gives_values_back_and_says_so(
    library, tmp_path, make_files, settings
) -> None:
    music = tmp_path / "music"
    gone, corrupt, fine = make_files(music, [".mp3", ".flac", ".ogg"])
    scan_and_decide(library, music)
    originals = {p: (sha(p), _fields(p)) for p in (gone, corrupt, fine)}
    report = run_export(library, ExportOptions(), backups=settings)
    items = _items(library)
    folder = _folder(library, report.batch_id)
    (folder / items[str(gone)].old_tags["backup"]["file"]).unlink()
    backup = folder / items[str(corrupt)].old_tags["backup"]["file"]
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.write_bytes(bytes(data))

    undone = undo_batch(library, report.batch_id)

    assert undone.restored == 3 and undone.inexact == 2, undone.problems
    assert sha(fine) == originals[fine][0]
    for p in (gone, corrupt):
        assert _fields(p) == originals[p][1], p
    text = "\n".join(undone.problems)
    assert f"{gone}: tag values restored, not byte for byte: its backup is gone" in text
    assert f"{corrupt}: tag values restored, not byte for byte" in text and "corrupt" in text


def test_over_limit_file_keeps_only_its_tag_regions_and_is_still_exact(library, tmp_path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    small, large = music / "small.flac", music / "large.flac"
    for path, seconds in ((small, 0.5), (large, 8.0)):
        make_audio(path, seconds=seconds, seed=3)
        tag_file(path, genres=["Rock"])
    scan_and_decide(library, music)
    limit = (small.stat().st_size + large.stat().st_size) // 2
    before = {p: sha(p) for p in (small, large)}

    report = run_export(library, ExportOptions(), backups=BackupSettings(max_copy_bytes=limit))

    items = _items(library)
    folder = _folder(library, report.batch_id)
    assert items[str(small)].old_tags["backup"]["kind"] == "copy"
    record = items[str(large)].old_tags["backup"]
    assert record["kind"] == "regions"
    assert (folder / record["file"]).stat().st_size < large.stat().st_size / 20
    undone = undo_batch(library, report.batch_id)
    assert undone.inexact == 0, undone.problems
    assert {p: sha(p) for p in (small, large)} == before


def test_retention_prunes_old_backups(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    (path,) = make_files(music, [".mp3"])
    scan_and_decide(library, music)
    original = _fields(path)
    root = tmp_path / "backups"
    settings = BackupSettings(root=root, keep_days=30)
    first = run_export(library, ExportOptions(), backups=settings)
    folder = _folder(library, first.batch_id)
    assert folder.parent == root and folder.is_dir()
    old = root / f"{(dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).strftime(STAMP)}-batch9-abc"
    old.mkdir()
    foreign = root / "not-a-batch"
    foreign.mkdir()

    run_export(library, ExportOptions(), backups=settings)  # prunes before it starts

    assert not old.exists() and folder.exists() and foreign.exists()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30, hours=1)
    assert prune(root, 30, now=later) == [folder]
    undone = undo_batch(library, first.batch_id)
    assert undone.restored == 1 and undone.inexact == 1
    assert "its backup is gone" in undone.problems[0]
    assert _fields(path) == original


def test_settings_come_from_arguments_environment_or_defaults(tmp_path, monkeypatch) -> None:
    db = tmp_path / "lib.db"
    assert BackupSettings.from_env().root_for(db) == tmp_path / "lib.export-backups"
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "env"))
    monkeypatch.setenv(ENV_MAX_MB, "0.5")
    monkeypatch.setenv(ENV_KEEP_DAYS, "7")
    from_env = BackupSettings.from_env()
    assert from_env.root_for(db) == tmp_path / "env"
    assert (from_env.max_copy_bytes, from_env.keep_days) == (512 * 1024, 7)
    given = BackupSettings.from_env(str(tmp_path / "arg"), 2, 1)
    assert (given.root, given.max_copy_bytes, given.keep_days) == (tmp_path / "arg", 2 << 20, 1)
    monkeypatch.setenv(ENV_MAX_MB, "lots")
    with pytest.raises(ConfigError, match=ENV_MAX_MB):
        BackupSettings.from_env()


def test_cli_backup_flags_and_undo_summary(tmp_path, make_files, capsys) -> None:
    from tagger_core.cli import main
    from tagger_core.db import open_library

    db = tmp_path / "lib.db"
    music = tmp_path / "music"
    paths = make_files(music, [".mp3", ".flac"])
    library = open_library(db)
    scan_and_decide(library, music)
    library.close()
    before = {p: sha(p) for p in paths}
    backups = tmp_path / "chosen"
    args = ["--db", str(db), "export", "--backup-dir", str(backups), "--backup-max-mb", "0"]
    assert main(args) == 0
    (folder,) = backups.iterdir()
    assert sorted(p.suffix for p in folder.iterdir()) == [".tags", ".tags"]
    capsys.readouterr()
    assert main(["--db", str(db), "export", "undo", "1"]) == 0
    assert "Restored 2 of 2 files of batch 1 (2 byte for byte, 0 tag values only)" in (
        capsys.readouterr().out
    )
    assert {p: sha(p) for p in paths} == before


def test_without_backups_undo_restores_values_and_says_so(library, tmp_path, make_files) -> None:
    music = tmp_path / "music"
    (path,) = make_files(music, [".mp3"])
    scan_and_decide(library, music)
    original = _fields(path)
    root = tmp_path / "backups"
    report = run_export(library, ExportOptions(), backups=BackupSettings(root=root, keep=False))
    assert report.written == 1 and not root.exists()
    undone = undo_batch(library, report.batch_id)
    assert undone.restored == undone.inexact == 1
    assert undone.problems == [
        f"{path}: tag values restored, not byte for byte: "
        "no byte-exact backup was kept for this batch"
    ]
    assert _fields(path) == original


@pytest.mark.parametrize("ext", [".ogg", ".opus"])
def test_tag_regions_undo_ogg_pages_renumbered_by_the_write(
    library, tmp_path, make_files, ext
) -> None:
    """A tag spanning many pages renumbers every audio page; undo still gives the bytes back."""
    music = tmp_path / "music"
    (path,) = make_files(music, [ext])
    scan_and_decide(library, music, genres=("A very long genre " * 4000,))
    before = sha(path)
    pages_before = path.read_bytes().count(b"OggS")
    report = run_export(library, ExportOptions(), backups=REGIONS)
    assert report.written == 1, report.problems
    assert path.read_bytes().count(b"OggS") > pages_before + 5  # audio pages renumbered
    undone = undo_batch(library, report.batch_id)
    assert undone.inexact == 0, undone.problems
    assert sha(path) == before
