"""The album view, album review and album-wide export in the GUI, on generated albums."""

from __future__ import annotations

from pathlib import Path

import pytest
from album_files import MB_BLUE, make_albums
from album_outputs import analyse_scanned_albums

from tagger_core.library.file_tags import read_tags
from tagger_core.library.scan import scan
from tagger_core.trust.review import reviews

BLUE = f"album:mb:{MB_BLUE}"


@pytest.fixture
def albums(library, tmp_path: Path):
    files = make_albums(tmp_path / "music")
    scan(library, [tmp_path / "music"])
    ids = analyse_scanned_albums(library)
    return files, ids


def _tree_texts(browser) -> list[str]:
    out, stack = [], [browser.topLevelItem(i) for i in range(browser.topLevelItemCount())]
    while stack:
        item = stack.pop(0)
        out.append(item.text(0))
        stack.extend(item.child(i) for i in range(item.childCount()))
    return out


def test_album_browser_and_album_view(qtbot, window, albums) -> None:
    window.albums.refresh()
    texts = _tree_texts(window.albums)
    assert "Albums by album artist (2)" in texts and "John Coltrane (1)" in texts
    assert "Various Artists (1)" in texts and "Kind of Blue (1999 · 3)" in texts
    assert "Miles Davis (1)" in texts  # the Artists branch
    assert window.albums.select_view(BLUE)
    assert window.model.view == BLUE and window.model.rowCount() == 4
    panel = window.album_panel
    assert not panel.isHidden() and "Blue Train" in panel.heading.text()
    genre = panel.bars["genre"].items
    assert genre[0][0] == "Jazz" and 0.5 < genre[0][1] < 0.95  # 3 jazz tracks, 1 rock
    assert panel.bars["instruments"].items[0][0] == "reed"
    assert len(genre) == 5  # the best five; the CLI lists every label
    assert "uncalibrated" in panel.states["genre"].text()
    assert "tracks disagree on Jazz" in panel.flags.text()
    # back to a fixed view: the album panel goes, the browser forgets its album
    window.sidebar.select_view("all")
    assert panel.isHidden() and window.model.view == "all"
    assert window.albums.current_view() is None
    # an artist's view
    assert window.albums.select_view("artist:Bill Evans")
    assert window.model.rowCount() == 1 and panel.isHidden()


def test_review_an_album_with_one_key_then_override_a_track(qtbot, window, albums, library):
    _, ids = albums
    window.albums.refresh()
    window.albums.select_view(BLUE)
    window.album_panel.review_button.click()
    review = window.review
    assert window.tabs.currentWidget() is review and review.album_key == BLUE[6:]
    assert review.queue == [ids[f"Blue {i}"] for i in range(1, 5)]  # playing order
    assert "Album labels: <b>Jazz" in review.album_label.text()
    review.setFocus()
    qtbot.keyClick(review, "L")
    with library.session() as s:
        state = reviews(s, "genre", review.queue)
    assert all(state[t].reviewed and state[t].accepted == {"Jazz"} for t in review.queue)
    # override the rock track: go to it, toggle Jazz off and add Rock
    review.position = 3
    review._show()
    review.cursor_label = "Jazz"
    review.bars.set_cursor([k for k, _, _ in review.bars.items].index("Jazz"))
    review.toggle_label()
    with library.session() as s:
        assert reviews(s, "genre", [ids["Blue 4"]])[ids["Blue 4"]].accepted == set()
    review.undo()  # the override
    review.undo()  # the whole album step
    with library.session() as s:
        assert reviews(s, "genre", review.queue) == {}


def test_export_dialog_album_genres_grouped_preview(qtbot, window, albums) -> None:
    files, _ = albums
    dialog = window.open_export()
    dialog.instruments.setChecked(False)
    dialog.policy.setCurrentIndex(dialog.policy.findData("replace"))
    dialog.use_confidence.setChecked(True)
    dialog.min_confidence.setValue(0.5)
    dialog.album_genres.setChecked(True)
    assert dialog.options().album_genres
    dialog.preview()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60000)
    tops = [dialog.diff.topLevelItem(i).text(0) for i in range(dialog.diff.topLevelItemCount())]
    assert tops == ["John Coltrane – Blue Train", "Not in an album"]
    blue = dialog.diff.topLevelItem(0)
    assert blue.childCount() == 1 and blue.child(0).text(0) == str(files["blue"][3])
    assert blue.child(0).child(0).text(2) == "Jazz"  # the rock track gets the album's genre
    assert read_tags(files["blue"][3]).genres == ["Rock"]
