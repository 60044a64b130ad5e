"""Review mode through claims: the librarian's batch, who holds the rest, who decided."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings
from sqlalchemy import select

from gui.test_review_mode import seed
from tagger_core.db import open_library
from tagger_core.db.models import ReviewDecision
from tagger_core.trust.claims import claim_tracks, live_claims


def _holders(library) -> dict[int, str]:
    with library.session() as s:
        return {c.track_id: c.user for c in live_claims(s)}


def test_review_mode_works_through_the_librarians_claims(qtbot, library, tmp_path) -> None:
    from app.main_window import MainWindow

    ids = seed(library, 6)  # uncertainty rises with the index: ids[5] is the most useful
    bob = claim_tracks(library, "bob", 2, task="genre")
    assert bob == [ids[5], ids[4]]
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("review/claims", "always")
    settings.setValue("review/claim_batch", 2)
    settings.setValue("review/user", "alice")
    win = MainWindow(library, settings)
    qtbot.addWidget(win)
    win.show()
    panel = win.review
    win.act_review.trigger()
    assert panel.user == "alice" and panel.user_box.text() == "alice"
    # alice gets the next two nobody holds, most useful first; bob's are listed as his
    assert panel.queue == [ids[3], ids[2]]
    assert _holders(library) == {ids[5]: "bob", ids[4]: "bob", ids[3]: "alice", ids[2]: "alice"}
    assert panel.others.isVisible() and panel.others.list.count() == 2
    assert all(" — bob until " in t for t in panel.others.shown.values())
    assert "held by you until" in panel.position_label.text()

    panel.buttons["accept"].click()  # accept: alice's decisions, her claim released
    with library.session() as s:
        who = set(
            s.scalars(select(ReviewDecision.decided_by).where(ReviewDecision.track_id == ids[3]))
        )
    assert who == {"alice"}
    assert ids[3] not in _holders(library)
    # Claim more tops the batch up to two again with the next free track
    panel.claim_button.click()
    assert set(panel.queue) == {ids[2], ids[1]}
    assert _holders(library)[ids[1]] == "alice"

    # another name in the field: stored, used by the detail's hand edits too
    panel.user_box.setText("carol")
    panel.user_box.editingFinished.emit()
    assert settings.value("review/user") == "carol"
    assert win.detail.label_editor.user == "carol"
    assert panel.queue == [ids[0]]  # carol's batch: the one track nobody holds
    assert {t: u for t, u in _holders(library).items() if u != "bob"} == {
        ids[2]: "alice", ids[1]: "alice", ids[0]: "carol",
    }  # fmt: skip
    assert panel.others.list.count() == 4  # bob's two and alice's two
    win.detail.wait_for_jobs()


def test_single_user_file_keeps_the_whole_queue_and_shows_others_claims(
    qtbot, window, library
) -> None:
    ids = seed(library, 3)
    claim_tracks(library, "bob", 1, task="genre")
    window.act_review.trigger()
    panel = window.review
    assert not panel.through_claims and not panel.claim_button.isVisible()
    assert panel.queue == [ids[2], ids[1], ids[0]]  # unchanged: the whole queue
    assert panel.others.isVisible() and "bob until" in panel.others.list.item(0).text()
    assert "held by bob until" in panel.position_label.text()


@pytest.mark.postgres
def test_shared_library_claims_by_default(qtbot, pg_url, tmp_path) -> None:
    from app.main_window import MainWindow

    library = open_library(pg_url)
    try:
        ids = seed(library, 25)
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("review/user", "dora")
        win = MainWindow(library, settings)
        qtbot.addWidget(win)
        win.show()
        win.act_review.trigger()
        panel = win.review
        assert panel.through_claims
        assert panel.queue == ids[::-1][:20]  # a batch of 20, most useful first
        assert set(_holders(library).values()) == {"dora"}
        win.detail.wait_for_jobs()
    finally:
        library.close()
