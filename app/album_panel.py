"""The album view's header: album-level genres and instrument families, and disagreements.

Shown above the library table while an album is the current view (the table lists its
tracks with their own predictions). The confidences are the album-level ones of
``tagger_core.trust.albums``: pooled from the tracks and calibrated when an album
calibration is active; the panel says which.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.confidence_bars import ConfidenceBars
from tagger_core.db import Library
from tagger_core.labels.tasks import task_bundles
from tagger_core.library.album_views import AlbumRow, album_row
from tagger_core.trust.albums import (
    AlbumPrediction,
    album_task_predictions,
    load_album_calibration,
    state_text,
)
from tagger_core.trust.predictions import load_policy

_TASK_TITLES = {"genre": "Album genres", "instruments": "Album instrument families"}
#: Labels drawn per task: the album's tracks need the room; the CLI lists them all.
TOP_LABELS = 5


class AlbumPanel(QWidget):
    """Album-level confidences of the album shown; ``review_requested(key)`` opens review."""

    review_requested = Signal(str)

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.key: str | None = None
        self.album: AlbumRow | None = None
        self.predictions: dict[str, AlbumPrediction] = {}
        self.heading = QLabel("")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.review_button = QPushButton("Review this album…")
        self.review_button.setToolTip("Accept the album's genres for all its tracks with one key")
        self.review_button.clicked.connect(self._review)
        self.bars: dict[str, ConfidenceBars] = {}
        self.states: dict[str, QLabel] = {}
        boxes = QHBoxLayout()
        for task, title in _TASK_TITLES.items():
            box = QGroupBox(title)
            inner = QVBoxLayout(box)
            bars = ConfidenceBars()
            bars.empty_text = "No track of this album is analysed yet."
            state = QLabel("")
            state.setWordWrap(True)
            state.setStyleSheet("color: #555")
            inner.addWidget(bars)
            inner.addWidget(state)
            boxes.addWidget(box, 1)
            self.bars[task], self.states[task] = bars, state
        self.flags = QLabel("")
        self.flags.setWordWrap(True)
        self.flags.setStyleSheet("color: #b42318")
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.review_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(boxes)
        layout.addWidget(self.flags)

    def _review(self) -> None:
        if self.key:
            self.review_requested.emit(self.key)

    def show_album(self, key: str) -> None:
        """Read and show the album-level predictions of album ``key``."""
        self.key = key
        with self.library.session() as s:
            self.album = album_row(s, key)
            self.predictions = album_task_predictions(s, [key]).get(key, {})
            threshold = load_policy(s).accept_threshold
            shown = task_bundles(s)
            states = {
                "genre": load_album_calibration(s, shown.genre),
                "instruments": load_album_calibration(s, shown.instruments),
            }
        a = self.album
        if a is None:
            self.heading.setText("<b>This album has no tracks left.</b>")
        else:
            year = f"{a.year} · " if a.year else ""
            self.heading.setText(
                f"<b style='font-size:13pt'>{_html(a.album)}</b> — {_html(a.artist)} "
                f"<span style='color:#555'>({year}{a.tracks} tracks)</span>"
            )
        reasons: list[str] = []
        for task, bars in self.bars.items():
            bars.threshold = threshold
            p = self.predictions.get(task)
            top = dict(p.ranked()[:TOP_LABELS]) if p else None
            bars.set_values(top, p.spread if p else None)
            if p is None:
                self.states[task].setText("")
                continue
            pooled = f"pooled from {len(p.tracks)} tracks ({p.pooling})"
            self.states[task].setText(f"{pooled}; {state_text(states[task])}")
            reasons.extend(f"⚑ {r}" for r in p.reasons)
        self.flags.setText("\n".join(reasons))
        self.flags.setVisible(bool(reasons))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
