"""After a bundle upgrade the window marks predictions of the earlier version and counts them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from upgraded_bundle import upgraded_resources

from tagger_core.db.blob_codec import pack
from tagger_core.db.models import Analysis, Track
from tagger_core.library.track_views import COLUMN_KEYS
from tagger_core.trust.predictions import refresh_predictions

BUNDLE = "instrument-family"
NOTE = "instrument-family 1.0.0 — outdated, re-analyse to update"


@pytest.fixture
def upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = upgraded_resources(tmp_path / "resources", BUNDLE, "2.0.0")
    monkeypatch.setenv("MUSIC_TAGGER_RESOURCES", str(root))


def _store(library, versions: list[list[str]]) -> None:
    rng = np.random.default_rng(5)
    with library.session() as s:
        for i, track_versions in enumerate(versions):
            t = Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1,
                      mtime_ns=1, title=f"Song {i}")  # fmt: skip
            s.add(t)
            s.flush()
            for version in track_versions:
                s.add(
                    Analysis(
                        track_id=t.id,
                        bundle_id=BUNDLE,
                        bundle_version=version,
                        members=[f"resnet_seed{k}" for k in range(5)],
                        member_logits=pack(rng.normal(0, 2, (5, 11)).astype(np.float32)),
                    )
                )


def test_outdated_predictions_are_grey_explained_counted_and_listed(
    qtbot, upgraded, window, library
) -> None:
    assert not window.outdated.isVisible()  # nothing stored yet
    assert not window.sidebar.select_view("outdated")  # the view is listed only when needed
    _store(library, [["1.0.0"], ["1.0.0", "2.0.0"], ["1.0.0"]])
    refresh_predictions(library)
    window.refresh_library()
    model, column = window.model, COLUMN_KEYS.index("instruments")
    old, current = model.index(0, column), model.index(1, column)
    assert NOTE in model.data(old, Qt.ItemDataRole.ToolTipRole)
    assert model.data(old, Qt.ItemDataRole.ForegroundRole) is not None
    assert "outdated" not in (model.data(current, Qt.ItemDataRole.ToolTipRole) or "")
    assert model.data(current, Qt.ItemDataRole.ForegroundRole) is None  # calibrated, current

    window.detail.show_track(model.track_id(0))
    assert "outdated model version" in window.detail.inst_box.title()
    assert window.detail.inst_box.toolTip() == NOTE
    window.detail.show_track(model.track_id(1))
    assert "outdated" not in window.detail.inst_box.title()

    assert window.outdated.isVisible()
    assert window.outdated.text() == "2 tracks with outdated analyses"
    assert "instrument-family: 2 tracks" in window.outdated.toolTip()
    items = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert "Outdated analyses (2)" in items
    window.outdated.click()
    assert window.sidebar.current_view() == "outdated"
    assert model.rowCount() == 2
    assert [model.data(model.index(r, 0)) for r in range(2)] == ["Song 0", "Song 2"]
