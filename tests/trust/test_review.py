from __future__ import annotations

import pytest
from sqlalchemy import select

from tagger_core.db.models import Prediction, ReviewDecision, Track
from tagger_core.errors import TaggerError
from tagger_core.trust.review import (
    decide,
    mark_reviewed,
    review_counts,
    review_queue,
    reviews,
    undo_last,
)


@pytest.fixture
def tracks(library) -> list[int]:
    with library.session() as s:
        rows = [
            Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1, mtime_ns=1)
            for i in range(4)
        ]
        s.add_all(rows)
        s.flush()
        states = [(True, 0.2), (True, 0.9), (False, 0.1), (True, 0.5)]
        for row, (flagged, unc) in zip(rows, states, strict=True):
            s.add(Prediction(track_id=row.id, bundle_id="genre", flagged=flagged, uncertainty=unc))
        return [r.id for r in rows]


def test_effective_state_follows_newest_live_decision(library, tracks) -> None:
    t = tracks[0]
    decide(library, t, "genre", "Rock", "accept", 0.7)
    decide(library, t, "genre", "Jazz", "reject", 0.4)
    decide(library, t, "genre", "Rock", "reject")
    decide(library, t, "genre", "Folk", "add")
    with library.session() as s:
        state = reviews(s, "genre")[t]
    assert state.accepted == {"Folk"} and state.rejected == {"Rock", "Jazz"}
    assert not state.reviewed
    undone = undo_last(library, t)
    assert undone is not None and undone.label == "Folk"
    undo_last(library, t)  # the Rock reject: the earlier accept is live again
    with library.session() as s:
        state = reviews(s, "genre")[t]
        assert state.accepted == {"Rock"} and state.rejected == {"Jazz"}
        assert s.scalar(select(ReviewDecision).where(ReviewDecision.label == "Folk")) is not None


def test_queue_is_flagged_unreviewed_most_uncertain_first(library, tracks) -> None:
    with library.session() as s:
        assert [p.track_id for p in review_queue(s, "genre")] == [tracks[1], tracks[3], tracks[0]]
        assert review_counts(s) == {"flagged": 3, "reviewed": 0, "waiting": 3, "decisions": 0}
    mark_reviewed(library, tracks[1], "genre")
    with library.session() as s:
        assert [p.track_id for p in review_queue(s, "genre")] == [tracks[3], tracks[0]]
        assert review_counts(s)["waiting"] == 2
    undo_last(library)
    with library.session() as s:
        assert review_queue(s, "genre")[0].track_id == tracks[1]


def test_bad_decisions_are_user_errors(library, tracks) -> None:
    with pytest.raises(TaggerError, match="unknown action"):
        decide(library, tracks[0], "genre", "Rock", "maybe")
    with pytest.raises(TaggerError, match="unknown task"):
        decide(library, tracks[0], "mood", "Rock", "accept")
    with pytest.raises(TaggerError, match="no track"):
        decide(library, 9999, "genre", "Rock", "accept")
    assert undo_last(library) is None
