"""Paged/sorted/filtered track views in SQL, on a real temp database."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import insert

from tagger_core.db.models import Analysis, LibraryRoot, Prediction, ReviewDecision, Track
from tagger_core.errors import TaggerError
from tagger_core.library.track_views import (
    count_tracks,
    label_summary,
    page_ids,
    rows_for,
    view_counts,
)


def _add_tracks(library, n: int, root_id: int | None = None) -> list[int]:
    rows = [
        {
            "path": os.fsencode(f"/music/{i:05d}.mp3"),
            "path_text": f"/music/{i:05d}.mp3",
            "size": 1000 + i,
            "mtime_ns": i,
            "status": "ok" if i % 10 else "unreadable",
            "title": f"Song {i:05d}",
            "artist": f"Artist {i % 7}",
            "album": f"Album {i % 3}",
            "genre_text": "Jazz" if i % 2 else "Rock",
            "genres": ["Jazz"] if i % 2 else ["Rock"],
            "raw_tags": {},
            "root_id": root_id,
        }
        for i in range(n)
    ]
    with library.session() as s:
        s.execute(insert(Track), rows)
        return list(s.scalars(Track.__table__.select().with_only_columns(Track.id)))


def test_views_count_and_page_in_sql(library):
    with library.session() as s:
        s.add(LibraryRoot(path=b"/music", path_text="/music"))
    ids = _add_tracks(library, 50, root_id=1)
    with library.session() as s:
        s.add(
            Prediction(
                track_id=ids[1],
                bundle_id="genre",
                confidences={"Jazz": 0.9, "Rock": 0.4},
                flagged=True,
            )
        )
        s.add(Prediction(track_id=ids[3], bundle_id="genre", confidences={"Rock": 0.3}))
        s.add(Analysis(track_id=ids[1], bundle_id="genre", bundle_version="1"))
        s.add(Analysis(track_id=ids[3], bundle_id="genre", bundle_version="1"))
        s.add(ReviewDecision(track_id=ids[3], task="genre", action="reviewed"))
    with library.session() as s:
        assert count_tracks(s) == 50
        assert count_tracks(s, "errors") == 5
        assert count_tracks(s, "flagged") == 1
        assert count_tracks(s, "reviewed") == 1
        assert count_tracks(s, "not_analysed") == 45 - 2
        assert count_tracks(s, "folder:1") == 50
        assert count_tracks(s, "all", "Artist 3") == len([i for i in range(50) if i % 7 == 3])
        first = page_ids(s, sort="title", offset=0, limit=5)
        assert rows_for(s, first)[0].title == "Song 00000"
        last = page_ids(s, sort="title", descending=True, offset=0, limit=1)
        assert rows_for(s, last)[0].title == "Song 00049"
        by_pred = page_ids(s, sort="predicted", descending=True, limit=2)
        assert set(by_pred) <= set(ids) and len(by_pred) == 2
        flagged_first = page_ids(s, sort="flag", limit=1)
        assert flagged_first == [ids[1]]
        rows = {r.id: r for r in rows_for(s, [ids[1], ids[3]])}
        assert rows[ids[1]].predicted == "Jazz 0.90" and rows[ids[1]].flag == "flagged"
        assert rows[ids[3]].predicted == "(Rock 0.30)" and rows[ids[3]].flag == "reviewed"
        counts = view_counts(s)
        assert counts["all"] == 50 and counts["folder:1"] == 50 and counts["flagged"] == 1


def test_unknown_view_and_column_are_user_errors(library):
    with library.session() as s:
        with pytest.raises(TaggerError):
            count_tracks(s, "nonsense")
        with pytest.raises(TaggerError):
            page_ids(s, sort="nonsense")


def test_label_summary():
    assert label_summary({"Pop": 0.6, "Rock": 0.91, "Jazz": 0.1}) == "Rock 0.91, Pop 0.60"
    assert label_summary({"Pop": 0.2}) == "(Pop 0.20)"
    assert label_summary({}) == ""


def test_columns_follow_the_task_each_manifest_states(library, tmp_path, monkeypatch):
    from tiny_bundle import make_tiny_bundle

    from tagger_core.labels.tasks import task_bundles

    # A genre head whose labels are not the app's genre names, and an instrument
    # bundle whose predictions happen to carry genre names: only the manifests know.
    make_tiny_bundle(tmp_path / "bundles", "my-genre-head")
    make_tiny_bundle(tmp_path / "bundles", "my-instruments", task="instruments")
    monkeypatch.setenv("MUSIC_TAGGER_BUNDLES", str(tmp_path / "bundles"))
    ids = _add_tracks(library, 2)
    with library.session() as s:
        s.add(
            Prediction(
                track_id=ids[0],
                bundle_id="my-genre-head",
                confidences={"slow": 0.8, "loud": 0.6},
                summary="slow 0.80, loud 0.60",
            )
        )
        s.add(Prediction(track_id=ids[0], bundle_id="my-instruments", confidences={"Jazz": 0.7}))
        s.add(Prediction(track_id=ids[1], bundle_id="uninstalled", confidences={"Rock": 0.9}))
    with library.session() as s:
        shown = task_bundles(s)
        assert (shown.genre, shown.instruments) == ("my-genre-head", "my-instruments")
        row = rows_for(s, [ids[0]], shown)[0]
        assert row.predicted == "slow 0.80, loud 0.60" and row.instruments == "Jazz 0.70"
        assert page_ids(s, sort="predicted", descending=True, limit=1, bundles=shown) == [ids[0]]


def test_flag_sort_orders_flagged_reviewed_plain_then_not_analysed(library):
    ids = _add_tracks(library, 8)
    with library.session() as s:
        # ids[1]: flagged; ids[2]: flagged but reviewed; ids[3]: analysed, not flagged;
        # ids[4]: reviewed and not flagged; the rest are not analysed.
        s.add(
            Prediction(track_id=ids[1], bundle_id="genre", confidences={"Jazz": 0.6}, flagged=True)
        )
        s.add(
            Prediction(track_id=ids[2], bundle_id="genre", confidences={"Jazz": 0.6}, flagged=True)
        )
        s.add(Prediction(track_id=ids[3], bundle_id="genre", confidences={"Jazz": 0.9}))
        s.add(Prediction(track_id=ids[4], bundle_id="genre", confidences={"Jazz": 0.9}))
        for tid in (ids[2], ids[4]):
            s.add(ReviewDecision(track_id=tid, task="genre", action="reviewed"))
    with library.session() as s:
        order = page_ids(s, sort="flag", limit=10)
        flags = [r.flag for r in rows_for(s, order)]
        assert order[:5] == [ids[1], ids[2], ids[4], ids[3], ids[0]]
        assert flags[:5] == ["flagged", "reviewed", "reviewed", "", ""]
        assert page_ids(s, sort="flag", descending=True, limit=8)[-1] == ids[1]


def test_search_finds_predicted_labels_above_the_threshold_only(library):
    ids = _add_tracks(library, 4)
    with library.session() as s:
        s.add(
            Prediction(
                track_id=ids[1], bundle_id="genre", confidences={}, summary="Electronic 0.81"
            )
        )
        s.add(
            Prediction(
                track_id=ids[2],
                bundle_id="genre",
                confidences={},
                summary="not found (best Electronic 0.31)",
            )
        )
        s.add(
            Prediction(
                track_id=ids[3], bundle_id="instruments", confidences={}, summary="Strings 0.7"
            )
        )
    with library.session() as s:
        assert page_ids(s, text="electronic") == [ids[1]]
        assert count_tracks(s, "all", "strings") == 1
        assert count_tracks(s, "all", "Song 0000") == 4


def test_status_text_says_why_a_track_is_in_the_errors_view(library):
    ids = _add_tracks(library, 2)
    with library.session() as s:
        s.get(Track, ids[0]).error = "not an audio file"
        s.add(
            Analysis(
                track_id=ids[1],
                bundle_id="genre",
                bundle_version="1",
                status="failed",
                error="decoder gave no samples",
            )
        )
    with library.session() as s:
        rows = rows_for(s, page_ids(s, "errors"))
    assert [r.value("status") for r in rows] == [
        "unreadable: not an audio file",
        "analysis failed: decoder gave no samples",
    ]
