"""The lazy library table on a generated 100,000-track database."""

from __future__ import annotations

import pytest
from library_rows import fill_library
from PySide6.QtCore import Qt

from app.library_model import PAGE, LibraryTableModel
from tagger_core.db.models import Track

N = 100_000


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
    model.sort(6, Qt.SortOrder.AscendingOrder)  # flagged first, not analysed last
    assert model.data(model.index(0, 6)) == "⚑ flagged"
    assert model.data(model.index(N - 1, 6)) == ""

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


def test_main_window_on_100k_tracks(qtbot, big_library, tmp_path):
    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow

    win = MainWindow(big_library, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    assert win.model.rowCount() == N
    assert "All tracks (100,000)" in win.sidebar.item(0).text()
    win.table.scrollToBottom()
    qtbot.wait(20)
    win.table.selectRow(N - 1)
    assert win.detail.detail is not None and win.detail.detail.fields[0][1] == f"Title {N - 1:06d}"
    win.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    assert win.model.data(win.model.index(0, 2)) == "Album 1999"
    win.search.setText("Title 004242")
    qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=5000)
    assert win.model.cached_rows < 10 * PAGE
    win.detail.wait_for_jobs()


def test_refresh_with_same_rows_rereads_cached_pages(qtbot, tmp_path):
    from tagger_core.db.models import Prediction

    library = fill_library(tmp_path / "same.db", 300)
    model = LibraryTableModel(library)
    assert model.data(model.index(250, 4)) == ""
    pages_before = model.pages_fetched
    with library.session() as s:
        tid = model.track_id(250)
        s.query(Prediction).filter(Prediction.track_id == tid).delete()
        s.add(Prediction(track_id=tid, bundle_id="genre", confidences={"Jazz": 0.93}))
    changed = []
    model.dataChanged.connect(lambda a, b: changed.append((a.row(), b.row())))
    model.refresh()
    assert changed == [(0, 299)]
    assert model.data(model.index(250, 4)) == "Jazz 0.93"
    assert model.pages_fetched == pages_before, "same rows: no new page queries"
    library.close()
