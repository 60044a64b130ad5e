"""The lazy library table on a generated 100,000-track database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import insert

from app.library_model import PAGE, LibraryTableModel
from tagger_core.db import open_library
from tagger_core.db.models import Prediction, Track

N = 100_000


def fill_library(path: Path, n: int = N):
    """A library of ``n`` tracks inserted in bulk (one executemany), plus a few predictions."""
    library = open_library(path)
    now = "2026-01-01 00:00:00.000000"
    rows = [
        (
            os.fsencode(f"/archive/{i // 1000:03d}/{i:06d}.flac"),
            f"/archive/{i // 1000:03d}/{i:06d}.flac",
            1000,
            i,
            "ok" if i % 97 else "unreadable",
            f"Title {i:06d}",
            f"Artist {i % 500:03d}",
            f"Album {i % 2000:04d}",
            ("Rock", "Jazz", "Folk", None)[i % 4],
            now,
        )
        for i in range(n)
    ]
    raw = library.engine.raw_connection()
    try:
        raw.cursor().executemany(
            "INSERT INTO tracks (path, path_text, size, mtime_ns, status, title, artist, album,"
            " genre_text, first_seen, last_seen, genres, raw_tags)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?10, '[]', '{}')",
            rows,
        )
        raw.commit()
    finally:
        raw.close()
    with library.session() as s:
        s.execute(
            insert(Prediction),
            [
                {
                    "track_id": t,
                    "bundle_id": "genre",
                    "confidences": {"Rock": 0.7},
                    "spread": {},
                    "flag_reasons": [],
                    "flagged": t % 2 == 0,
                    "uncertainty": 0.4,
                }
                for t in range(1, min(n, 100) + 1)
            ],
        )
    return library


@pytest.fixture(scope="module")
def big_library(tmp_path_factory):
    library = fill_library(tmp_path_factory.mktemp("big") / "big.db")
    yield library
    library.close()


def test_opens_scrolls_sorts_filters_without_loading_everything(qtbot, big_library):
    from PySide6.QtWidgets import QTableView

    model = LibraryTableModel(big_library)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 600)
    view.show()
    assert model.rowCount() == N

    view.scrollToBottom()
    qtbot.wait(20)
    last = model.index(N - 1, 0)
    assert model.data(last) == f"Title {N - 1:06d}"
    assert model.cached_rows <= 3 * PAGE
    assert model.rows_fetched < 5 * PAGE

    model.sort(0, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, 0)) == f"Title {N - 1:06d}"
    model.sort(1, Qt.SortOrder.AscendingOrder)
    assert model.data(model.index(0, 1)) == "Artist 000"
    assert model.data(model.index(N - 1, 1)) == "Artist 499"
    model.sort(6, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, 6)) == "⚑ flagged"

    model.set_filter("Artist 007")
    assert model.rowCount() == N // 500
    assert all(
        model.data(model.index(r, 1)) == "Artist 007" for r in range(0, model.rowCount(), 37)
    )
    model.set_filter("")
    model.set_view("errors")
    assert model.rowCount() == len([i for i in range(N) if i % 97 == 0])
    assert model.data(model.index(0, 7)) == "unreadable"
    assert model.rows_fetched < 20 * PAGE, "the model must fetch pages, not the library"


def test_refresh_shows_new_rows_and_keeps_count_in_sql(qtbot, tmp_path):
    library = fill_library(tmp_path / "small.db", 10)
    model = LibraryTableModel(library)
    inserted = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    with library.session() as s:
        s.add(
            Track(
                path=b"/x/new.mp3", path_text="/x/new.mp3", size=1, mtime_ns=1, title="Title 999999"
            )
        )
    model.refresh()
    assert model.rowCount() == 11 and inserted == [(10, 10)]
    assert model.data(model.index(10, 0)) == "Title 999999"
    library.close()
