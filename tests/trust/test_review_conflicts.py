"""Two librarians on the same label: the later decision wins, both stay, the conflict is listed."""

from __future__ import annotations

from sqlalchemy import select

from tagger_core.db import open_library
from tagger_core.db.models import ReviewDecision, Track
from tagger_core.trust.report_page import calibration_report_html
from tagger_core.trust.review import decide, reviews, undo_last
from tagger_core.trust.review_conflicts import review_conflicts


def _tracks(lib, n: int) -> list[int]:
    with lib.session() as s:
        rows = [
            Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1, mtime_ns=1)
            for i in range(n)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def test_later_decision_wins_both_kept_and_the_conflict_is_listed(db_location: str) -> None:
    lib = open_library(db_location)
    t, u, v = _tracks(lib, 3)
    decide(lib, t, "genre", "Rock", "accept", 0.7, user="alice")
    decide(lib, t, "genre", "Rock", "reject", 0.7, user="bob")
    decide(lib, u, "genre", "Jazz", "reject", user="carol")  # carol changes her mind: no conflict
    decide(lib, u, "genre", "Jazz", "add", user="carol")
    decide(lib, v, "genre", "Folk", "accept", user="alice")  # two people agreeing: no conflict
    decide(lib, v, "genre", "Folk", "add", user="bob")
    with lib.session() as s:
        assert reviews(s, "genre")[t].rejected == {"Rock"}
        history = s.execute(
            select(ReviewDecision.decided_by, ReviewDecision.action)
            .where(ReviewDecision.track_id == t)
            .order_by(ReviewDecision.id)
        ).all()
        assert [tuple(h) for h in history] == [("alice", "accept"), ("bob", "reject")]
        conflicts = review_conflicts(s)
    assert len(conflicts) == 1
    c = conflicts[0]
    assert (c.track_id, c.task, c.label) == (t, "genre", "Rock")
    assert (c.winner, c.winner_action, c.overruled, c.overruled_action) == (
        "bob", "reject", "alice", "accept",
    )  # fmt: skip
    assert c.winner_at >= c.overruled_at
    assert "bob reject" in c.text() and "alice accept" in c.text()
    # bob takes his back: alice's accept is the effective one again, and nothing conflicts
    assert undo_last(lib, t, user="bob") is not None
    with lib.session() as s:
        assert reviews(s, "genre")[t].accepted == {"Rock"}
        assert review_conflicts(s) == []
    lib.close()


def test_the_report_lists_conflicts_with_both_users_decisions_and_times(tmp_path) -> None:
    lib = open_library(tmp_path / "library.db")
    (t,) = _tracks(lib, 1)
    decide(lib, t, "genre", "Metal", "add", user="alice")
    decide(lib, t, "genre", "Metal", "reject", user="bob")
    with lib.session() as s:
        c = review_conflicts(s)[0]
    page = calibration_report_html(lib)
    assert "<h2>Review conflicts</h2>" in page
    row = page.split("<h2>Review conflicts</h2>", 1)[1].split("</table>", 1)[0]
    assert "Metal" in row and "/m/0.flac" in row
    assert f"bob: reject, {c.winner_at:%Y-%m-%d %H:%M} UTC" in row
    assert f"alice: add, {c.overruled_at:%Y-%m-%d %H:%M} UTC" in row
    lib.close()
