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

    # The cursor starts on the flagged label (Jazz); up to the top label (Rock 0.8,
    # predicted), toggle -> rejected; move down, toggle Jazz -> rejected.
    assert panel.bars.label_at_cursor() == "Jazz"
    qtbot.keyClick(panel, Qt.Key.Key_Up)
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


def _add(library, name: str, title: str | None, confidences: dict, flagged_label: str, unc: float):
    with library.session() as s:
        t = Track(
            path=os.fsencode(f"/m/{name}"), path_text=f"/m/{name}", size=1, mtime_ns=1, title=title
        )
        s.add(t)
        s.flush()
        s.add(
            Prediction(
                track_id=t.id,
                bundle_id="genre",
                confidences=confidences,
                spread={},
                flagged=True,
                uncertainty=unc,
                flag_reasons=[
                    {"code": "uncertain", "label": flagged_label, "message": f"{flagged_label} ?"}
                ],
            )
        )
        return t.id


def test_decisions_land_on_the_label_under_the_cursor_after_next(qtbot, window, library):
    """Item 2 of issue 14: the cursor kept its row on the next track, so Rock became Ambient."""
    first = _add(library, "a.flac", "A", {"Rock": 0.9, "Ambient": 0.6, "Pop": 0.2}, "Ambient", 0.9)
    second = _add(
        library, "b.flac", "B", {"Ambient": 0.8, "Electronic": 0.55, "Rock": 0.3}, "Electronic", 0.5
    )
    window.act_review.trigger()
    panel = window.review
    panel.setFocus()
    assert panel.current_track_id() == first
    qtbot.keyClick(panel, Qt.Key.Key_Down)
    qtbot.keyClick(panel, Qt.Key.Key_Down)
    assert panel.bars.label_at_cursor() == "Pop"  # the third row
    qtbot.keyClick(panel, Qt.Key.Key_N)
    assert panel.current_track_id() == second
    # A new track starts on its first flagged label, highlighted: not on row 3 (Rock).
    shown = panel.bars.items[panel.bars.cursor][0]
    assert shown == panel.cursor_label == "Electronic"
    qtbot.keyClick(panel, Qt.Key.Key_T)
    assert live(library, second) == [("reject", "Electronic")]  # 0.55 was predicted
    assert live(library, first) == []
    # Back and forth: the first track starts again on its flagged label.
    qtbot.keyClick(panel, Qt.Key.Key_B)
    assert panel.bars.label_at_cursor() == "Ambient"
    qtbot.keyClick(panel, Qt.Key.Key_Up)
    qtbot.keyClick(panel, Qt.Key.Key_T)
    assert live(library, first) == [("reject", "Rock")]
    assert panel.bars.label_at_cursor() == "Rock"  # the cursor stays on the label it decided


def test_queue_names_untitled_tracks_and_undo_says_what(qtbot, window, library):
    """Item 6 of issue 14: "track 9 (0.72)" and a bare "Undone."."""
    tid = _add(library, "song.flac", None, {"Rock": 0.7, "Jazz": 0.4}, "Jazz", 0.72)
    window.act_review.trigger()
    panel = window.review
    item = panel.queue_list.item(0)
    assert item.text() == "song.flac — review value 0.72"
    assert "coin toss" in item.toolTip()
    panel.setFocus()
    qtbot.keyClick(panel, Qt.Key.Key_Up)  # Rock
    qtbot.keyClick(panel, Qt.Key.Key_T)
    assert live(library, tid) == [("reject", "Rock")]
    qtbot.keyClick(panel, Qt.Key.Key_U)
    assert panel.message.text() == "Undid: Rock rejected on ‘song.flac’."
    qtbot.keyClick(panel, Qt.Key.Key_A)
    qtbot.keyClick(panel, Qt.Key.Key_U)
    assert panel.message.text() == "Undid: track accepted and marked reviewed on ‘song.flac’."
    assert live(library, tid) == []


def test_header_shows_the_flag_rate_per_task(window, library):
    """Item 4 of issue 14: how selective the flags are, per task."""
    seed(library, 3)
    with library.session() as s:
        t = Track(path=b"/m/x.wav", path_text="/m/x.wav", size=1, mtime_ns=1)
        s.add(t)
        s.flush()
        s.add(Prediction(track_id=t.id, bundle_id="genre", confidences={"Rock": 0.9}))
    window.act_review.trigger()
    panel = window.review
    assert "Genres: 3 of 4 flagged (75 %)" in panel.rate_label.text()
    assert "Genres: 3 of 4 flagged (75 %), 3 waiting" in panel.counts_label.text()
    window.refresh_library()
    item = next(
        window.sidebar.item(i)
        for i in range(window.sidebar.count())
        if window.sidebar.item(i).text().startswith("Flagged")
    )
    assert "Genres: 3 of 4 flagged (75 %), 3 waiting" in item.toolTip()
