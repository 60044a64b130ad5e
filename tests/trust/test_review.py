from __future__ import annotations

import pytest
from sqlalchemy import select

from tagger_core.db.models import Prediction, ReviewDecision, Track
from tagger_core.errors import TaggerError
from tagger_core.library.track_views import count_tracks, view_counts
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
        assert [p.track_id for p in review_queue(s, "genre", "genre")] == [
            tracks[1],
            tracks[3],
            tracks[0],
        ]
        counts = review_counts(s)
        assert {k: counts[k] for k in ("flagged", "reviewed", "waiting", "decisions")} == {
            "flagged": 3,
            "reviewed": 0,
            "waiting": 3,
            "decisions": 0,
        }
        assert counts["tasks"]["genre"].rate_text == "Genres: 3 of 4 flagged (75 %)"
    mark_reviewed(library, tracks[1], "genre")
    with library.session() as s:
        assert [p.track_id for p in review_queue(s, "genre", "genre")] == [tracks[3], tracks[0]]
        assert review_counts(s)["waiting"] == 2
    undo_last(library)
    with library.session() as s:
        assert review_queue(s, "genre", "genre")[0].track_id == tracks[1]


def test_bad_decisions_are_user_errors(library, tracks) -> None:
    with pytest.raises(TaggerError, match="unknown action"):
        decide(library, tracks[0], "genre", "Rock", "maybe")
    with pytest.raises(TaggerError, match="unknown task"):
        decide(library, tracks[0], "mood", "Rock", "accept")
    with pytest.raises(TaggerError, match="no track"):
        decide(library, 9999, "genre", "Rock", "accept")
    assert undo_last(library) is None


def test_reviewing_genres_leaves_the_track_in_the_instrument_queue(library, tracks) -> None:
    """Item 3 of issue 14: the queue and "reviewed" are per task."""
    with library.session() as s:
        for tid in tracks:
            s.add(
                Prediction(
                    track_id=tid,
                    bundle_id="instrument-family",
                    confidences={"string": 0.5},
                    flagged=True,
                    flag_reasons=[{"code": "uncertain", "label": "string", "message": "m"}],
                    uncertainty=0.5,
                )
            )
    mark_reviewed(library, tracks[1], "genre")
    with library.session() as s:
        assert tracks[1] not in [p.track_id for p in review_queue(s, "genre", "genre")]
        queue = review_queue(s, "instrument-family", "instruments")
        assert tracks[1] in [p.track_id for p in queue]
        kept = next(p for p in queue if p.track_id == tracks[1])
        assert kept.flag_reasons[0]["label"] == "string"
        counts = review_counts(s)
        assert counts["tasks"]["genre"].waiting == 2
        assert counts["tasks"]["instruments"].waiting == 4
        assert counts["waiting"] == 4  # still waiting for its instrument review
        assert count_tracks(s, "flagged") == 4
    mark_reviewed(library, tracks[1], "instruments")
    with library.session() as s:
        assert tracks[1] not in [
            p.track_id for p in review_queue(s, "instrument-family", "instruments")
        ]
        assert review_counts(s)["waiting"] == 3
        assert count_tracks(s, "flagged") == 3


def test_a_raw_tag_bundle_is_not_counted_as_flagged(library, tracks) -> None:
    """The MTT tag bundle lends its tags to the genre bundle; the app shows instrument-family."""
    with library.session() as s:
        for tid in tracks:
            s.add(Prediction(track_id=tid, bundle_id="instrument-family", flagged=False))
            s.add(Prediction(track_id=tid, bundle_id="instruments", flagged=True))
    with library.session() as s:
        assert review_counts(s)["flagged"] == 3  # the genre flags only
        assert count_tracks(s, "flagged") == 3
        assert view_counts(s)["flagged"] == 3
