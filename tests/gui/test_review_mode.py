"""A full review flow from the keyboard: decisions are stored at once and can be undone."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from sqlalchemy import select

from tagger_core.db.models import Prediction, ReviewDecision, Track
from tagger_core.trust import review


def seed(library, n: int = 3) -> list[int]:
    """Tracks with flagged genre predictions, as the analysis would store them."""
    ids = []
    with library.session() as s:
        for i in range(n):
            t = Track(
                path=os.fsencode(f"/m/{i}.wav"),
                path_text=f"/m/{i}.wav",
                size=1,
                mtime_ns=1,
                title=f"Track {i}",
                artist="A",
                genres=["Rock"],
            )
            s.add(t)
            s.flush()
            ids.append(t.id)
            s.add(
                Prediction(
                    track_id=t.id,
                    bundle_id="genre",
                    confidences={"Rock": 0.8, "Jazz": 0.55, "Folk": 0.1},
                    spread={"Rock": 0.05, "Jazz": 0.2, "Folk": 0.02},
                    flagged=True,
                    uncertainty=0.3 + 0.2 * i,
                    flag_reasons=[
                        {
                            "code": "uncertain",
                            "label": "Jazz",
                            "message": "Jazz 0.55 is in the uncertain band 0.35–0.65",
                        }
                    ],
                )
            )
    return ids


def live(library, track_id: int) -> list[tuple[str, str | None]]:
    with library.session() as s:
        rows = s.execute(
            select(ReviewDecision.action, ReviewDecision.label)
            .where(ReviewDecision.track_id == track_id, ReviewDecision.undone_at.is_(None))
            .order_by(ReviewDecision.id)
        ).all()
    return [(a, lbl) for a, lbl in rows]


def test_keyboard_review_flow(qtbot, window, library):
    ids = seed(library)
    window.refresh_library()
    assert "Flagged (3)" in [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    window.act_review.trigger()
    panel = window.review
    panel.setFocus()
    # Most useful first: highest uncertainty.
    assert panel.queue == [ids[2], ids[1], ids[0]]
    assert panel.counts["waiting"] == 3
    assert "uncertain band" in panel.reasons_label.text()

    # Toggle the top label (Rock 0.8, predicted) -> rejected; move down, toggle Jazz -> rejected.
    qtbot.keyClick(panel, Qt.Key.Key_T)
    assert live(library, ids[2]) == [("reject", "Rock")]
    qtbot.keyClick(panel, Qt.Key.Key_Down)
    qtbot.keyClick(panel, Qt.Key.Key_T)
    assert live(library, ids[2])[-1] == ("reject", "Jazz")
    qtbot.keyClick(panel, Qt.Key.Key_T)  # toggle again -> accepted
    assert live(library, ids[2])[-1] == ("accept", "Jazz")
    assert panel.bars.marks == {"Rock": "reject", "Jazz": "accept"}
    # Accept the track: marked reviewed, next track shown.
    qtbot.keyClick(panel, Qt.Key.Key_A)
    assert live(library, ids[2])[-1] == ("reviewed", None)
    assert panel.current_track_id() == ids[1]
    assert panel.counts["waiting"] == 2 and panel.counts["reviewed"] == 1
    # Reject the next one: both predicted labels rejected.
    qtbot.keyClick(panel, Qt.Key.Key_R)
    assert live(library, ids[1]) == [("reject", "Rock"), ("reject", "Jazz"), ("reviewed", None)]
    assert panel.current_track_id() == ids[0]
    # Undo takes the whole step back and returns to that track.
    qtbot.keyClick(panel, Qt.Key.Key_U)
    assert live(library, ids[1]) == []
    assert panel.current_track_id() == ids[1]
    assert panel.counts["waiting"] == 2
    # Previous / next navigation.
    qtbot.keyClick(panel, Qt.Key.Key_B)
    assert panel.current_track_id() == ids[2]
    qtbot.keyClick(panel, Qt.Key.Key_N)
    assert panel.current_track_id() == ids[1]
    # The library's Reviewed view and the review core agree with what was done.
    window.tabs.setCurrentIndex(0)
    window.sidebar.select_view("reviewed")
    assert window.model.rowCount() == 1
    with library.session() as s:
        state = review.reviews(s, "genre", [ids[2]])[ids[2]]
    assert state.reviewed and state.accepted == {"Jazz"} and state.rejected == {"Rock"}


def test_play_in_review_is_off_without_audio_output(window):
    panel = window.review
    if not panel.player.available:
        assert not panel.buttons["play"].isEnabled()
        assert panel.buttons["play"].toolTip() == panel.player.problem
