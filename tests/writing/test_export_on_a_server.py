"""Export from a library on PostgreSQL: undo backups go to this computer's data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio_files import make_audio
from mutagen.flac import FLAC

from tagger_core.cli import main
from tagger_core.writing.backups import ENV_DIR, BackupSettings


@pytest.mark.postgres
def test_export_and_undo_on_postgresql_keep_backups_in_the_user_data_folder(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "music").mkdir()
    song = make_audio(tmp_path / "music" / "song.flac", seconds=1.0)
    before = song.read_bytes()
    assert main(["--db", pg_url, "scan", str(song.parent)]) == 0
    assert main(["--db", pg_url, "review", "accept", str(song), "Jazz"]) == 0
    assert main(["--db", pg_url, "export", "--genres"]) == 0
    out = capsys.readouterr().out
    assert "1 files (batch 1" in out, out
    assert FLAC(song)["genre"] == ["Jazz"]
    root = BackupSettings.from_env().root_for(pg_url)
    assert root.is_relative_to(tmp_path / "data" / "music-archive-tagger" / "export-backups")
    assert root.name.endswith(pg_url.rsplit("/", 1)[1])
    assert [p.name for p in root.iterdir()], "the batch's backup folder"
    assert main(["--db", pg_url, "export", "undo", "1"]) == 0
    assert song.read_bytes() == before  # byte for byte, from the backup kept there
