"""The rest of the core on a PostgreSQL library: scan, analyse, predictions, views, review.

The same generated files are analysed into an SQLite library and a PostgreSQL
one through the ``music-tagger`` command; the stored outputs must agree.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from audio_files import make_audio, tag_file
from sqlalchemy import func, select
from stored_outputs import add_genre_outputs, review_truth
from tiny_bundle import make_tiny_bundle

from tagger_core.cli import main
from tagger_core.db import open_library
from tagger_core.db.blob_codec import unpack
from tagger_core.db.models import Analysis, Calibration, Prediction, Track
from tagger_core.library.track_views import count_tracks, page_ids, rows_for
from tagger_core.trust.archive_calibration import fit_calibration
from tagger_core.trust.predictions import refresh_predictions
from tagger_core.trust.review import decide, undo_last

pytestmark = pytest.mark.postgres


@pytest.fixture
def music(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bundles = tmp_path / "bundles"
    make_tiny_bundle(bundles, "tiny-a", seed=1)
    make_tiny_bundle(bundles, "tiny-b", seed=2)
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(bundles))
    folder = tmp_path / "music"
    (folder / "cafe").mkdir(parents=True)
    make_audio(folder / "one.flac", seconds=2.5, seed=1, style="rock")
    tag_file(folder / "one.flac", title="beta", genres=["Rock", "Jazz"])
    make_audio(folder / "cafe" / "two.mp3", seconds=2.5, seed=2, style="ambient")
    tag_file(folder / "cafe" / "two.mp3", title="Alpha", genres=["Ambient"])
    make_audio(folder / "three.wav", seconds=1.5, seed=3, style="piano")
    os.rename(folder / "cafe", os.fsencode(folder) + b"/caf\xe9")  # a name that is not UTF-8
    return folder


def _outputs(db: str) -> dict[bytes, dict[str, np.ndarray]]:
    lib = open_library(db)
    with lib.session() as s:
        rows = s.execute(select(Track.path, Analysis).join(Analysis)).all()
        out: dict[bytes, dict[str, np.ndarray]] = {}
        for path, a in rows:
            out.setdefault(path, {})[a.bundle_id] = unpack(a.member_logits)
    lib.close()
    return out


def test_scan_and_analysis_round_trip_on_postgresql(music: Path, pg_url: str, tmp_path, capsys):
    common = ("--models", "tiny-a,tiny-b", "--no-optimize", "--workers", "1")
    sqlite_db = str(tmp_path / "lib.db")
    for db in (sqlite_db, pg_url):
        assert main(["--db", db, "analyze", str(music), *common]) == 0
        out = capsys.readouterr().out
        assert "3 new" in out and "Analysed 3 tracks" in out and "0 errors" in out
    assert main(["--db", pg_url, "scan", str(music)]) == 0  # a rescan finds nothing new
    assert "0 new" in capsys.readouterr().out
    on_pg, on_sqlite = _outputs(pg_url), _outputs(sqlite_db)
    odd = os.fsencode(str(music / "caf\udce9" / "two.mp3"))
    assert set(on_pg) == set(on_sqlite) and odd in on_pg
    for path, per_bundle in on_pg.items():
        assert set(per_bundle) == {"tiny-a", "tiny-b"}
        for bundle_id, logits in per_bundle.items():
            np.testing.assert_allclose(logits, on_sqlite[path][bundle_id], rtol=1e-5, atol=1e-5)

    lib = open_library(pg_url)
    with lib.session() as s:
        assert count_tracks(s) == 3 and count_tracks(s, text="ALPHA") == 1
        ids = page_ids(s, sort="title")  # case-insensitive, as on SQLite
        titles = [r.title for r in rows_for(s, ids)]
        first = s.scalar(select(Track).where(Track.path == odd))
        track_id = first.id
    assert titles[:2] == ["Alpha", "beta"]
    decision = decide(lib, track_id, "genre", "Ambient", "accept", 0.9)
    assert undo_last(lib, track_id).id == decision
    lib.close()
    assert main(["--db", pg_url, "db", "check"]) == 0
    assert capsys.readouterr().out.startswith("database ok: postgresql+psycopg://")


def test_predictions_and_calibration_on_postgresql(pg_url: str) -> None:
    """Upserted predictions, review decisions and a fitted calibration on the server."""
    lib = open_library(pg_url)
    bundle, truth = add_genre_outputs(lib, 120, 2.5, genres=lambda i: ["Rock"] if i % 3 else [])
    assert refresh_predictions(lib) == 120
    assert refresh_predictions(lib) == 120  # the second run updates the same rows
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Prediction)) == 120
    review_truth(lib, bundle, truth, upto=120)
    result = fit_calibration(lib, "genre", method="temperature", fit="nll", folds=3)
    assert result.report.after.nll < result.report.before.nll
    with lib.session() as s:
        active = s.scalars(select(Calibration).where(Calibration.active)).all()
        assert len(active) == 1
        assert {p.calibration_id for p in s.scalars(select(Prediction))} == {active[0].id}
    lib.close()
