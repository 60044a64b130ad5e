"""Export can write each track's conformal label set instead of thresholded labels."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tagger_core.cli import main
from tagger_core.db.models import Calibration, Prediction, Track
from tagger_core.errors import TaggerError
from tagger_core.library.scan import scan
from tagger_core.writing import ExportOptions
from tagger_core.writing.plan import plan_exports


def _library_with_predictions(library, tmp_path, make_files) -> tuple[int, int]:
    music = tmp_path / "music"
    make_files(music, [".mp3", ".flac"])
    scan(library, [music])
    with library.session() as s:
        a, b = [t.id for t in s.scalars(select(Track).order_by(Track.path))]
        cal = Calibration(
            bundle_id="genre",
            bundle_version="1",
            method="temperature",
            fit_criterion="nll",
            params={"labels": ["Jazz"], "scaler": {}, "conformal": {"threshold": 0.35}},
        )
        s.add(cal)
        s.flush()
        conf = {"Jazz": 0.4, "Pop": 0.36, "Folk": 0.2}
        s.add(Prediction(track_id=a, bundle_id="genre", calibration_id=cal.id, confidences=conf))
        s.add(Prediction(track_id=b, bundle_id="genre", calibration_id=None, confidences=conf))
    return a, b


def test_conformal_sets_use_the_calibrations_threshold(library, tmp_path, make_files) -> None:
    a, b = _library_with_predictions(library, tmp_path, make_files)
    with library.session() as s:
        plans = {p.track_id: p for p in plan_exports(s, ExportOptions(conformal_sets=True))}
        # b's prediction has no calibration, so no conformal set: nothing to write for it
        assert set(plans) == {a} and plans[a].accept == {"genre": ["Pop", "Jazz"]}
        assert plan_exports(s, ExportOptions(min_confidence=0.5)) == []


def test_conformal_sets_and_a_confidence_floor_exclude_each_other(
    library, tmp_path, make_files, capsys
) -> None:
    with pytest.raises(TaggerError, match="not both"):
        ExportOptions(conformal_sets=True, min_confidence=0.5)
    _library_with_predictions(library, tmp_path, make_files)
    db = str(library.path)
    assert main(["--db", db, "export", "--dry-run", "--conformal-sets"]) == 0
    out = capsys.readouterr().out
    assert '"Pop", "Jazz"]' in out and "1 files would change" in out
