"""Hand edits of a track's labels are review decisions that export then writes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tagger_core.db.models import Prediction, ReviewDecision, Track
from tagger_core.errors import TaggerError
from tagger_core.trust.review import reviews, set_label
from tagger_core.writing import ExportOptions
from tagger_core.writing.plan import plan_exports


@pytest.fixture
def tracks(library) -> list[int]:
    with library.session() as s:
        rows = [
            Track(path=f"/m/{i}.flac".encode(), path_text=f"/m/{i}.flac", size=1, mtime_ns=1)
            for i in range(3)
        ]
        s.add_all(rows)
        s.flush()
        s.add(Prediction(track_id=rows[0].id, bundle_id="genre", confidences={"Rock": 0.8}))
        s.add(Prediction(track_id=rows[1].id, bundle_id="genre", confidences={"Rock": 0.2}))
        return [r.id for r in rows]


def test_keep_accepts_predicted_and_adds_the_rest(library, tracks):
    assert set_label(library, tracks, "genre", "Rock", keep=True) == 3
    with library.session() as s:
        rows = list(s.scalars(select(ReviewDecision).order_by(ReviewDecision.track_id)))
        state = reviews(s, "genre", tracks)
        plans = {p.track_id: p for p in plan_exports(s, ExportOptions(tasks=("genre",)))}
    assert [(r.action, r.confidence) for r in rows] == [
        ("accept", 0.8),
        ("add", 0.2),
        ("add", None),
    ]
    assert all(state[t].accepted == {"Rock"} for t in tracks)
    assert all(plans[t].accept["genre"] == ["Rock"] for t in tracks)


def test_drop_rejects_on_every_selected_track(library, tracks):
    set_label(library, tracks, "genre", "Rock", keep=True)
    set_label(library, tracks[:2], "genre", "Rock", keep=False)
    with library.session() as s:
        state = reviews(s, "genre", tracks)
        plans = {p.track_id: p for p in plan_exports(s, ExportOptions(tasks=("genre",)))}
    assert state[tracks[0]].rejected == {"Rock"} and state[tracks[2]].accepted == {"Rock"}
    assert plans[tracks[0]].reject["genre"] == ["Rock"]


def test_unknown_track_records_nothing(library, tracks):
    with pytest.raises(TaggerError, match="no track"):
        set_label(library, [tracks[0], 999], "genre", "Rock", keep=True)
    with library.session() as s:
        assert s.scalars(select(ReviewDecision)).first() is None
