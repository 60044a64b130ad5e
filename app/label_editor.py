"""Editing a track's genres by hand in the detail pane, for one track or the whole selection.

What the librarian sees is what export writes: labels a person kept or added,
and the model's predictions above the display threshold that nobody rejected
yet. Every edit is a review decision (``tagger_core.trust.review.set_label``): the
export picks it up, Review mode shows it, and ``music-tagger review undo``
takes back the newest one.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db import Library
from tagger_core.db.models import Prediction
from tagger_core.errors import TaggerError
from tagger_core.labels.genre_normalizer import GENRE_LABELS
from tagger_core.library.track_views import SHOW_THRESHOLD, task_bundles
from tagger_core.trust import review
from tagger_core.trust.librarians import default_user

LABEL_ROLE = Qt.ItemDataRole.UserRole + 1


def label_rows(session: Session, track_id: int, task: str = "genre") -> list[tuple[str, str]]:
    """``(label, how)`` of the labels export would write: ``yours`` or ``predicted 0.91``."""
    state = review.reviews(session, task, [track_id]).get(track_id) or review.TrackReview()
    shown = task_bundles(session)
    bundle = shown.for_task(task)
    confidences = (
        session.scalar(
            select(Prediction.confidences).where(
                Prediction.track_id == track_id, Prediction.bundle_id == bundle
            )
        )
        or {}
    )
    rows = [(label, "yours") for label in sorted(state.accepted, key=str.casefold)]
    predicted = sorted(
        ((str(k), float(v)) for k, v in confidences.items() if v is not None),
        key=lambda kv: -kv[1],
    )
    for label, value in predicted:
        if value >= SHOW_THRESHOLD and label not in state.accepted | state.rejected:
            rows.append((label, f"predicted {value:.2f}"))
    return rows


class LabelEditor(QGroupBox):
    """Keep, remove or add genres of the shown track, or of every selected track."""

    changed = Signal()

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__("Genres to write (edit by hand)", parent)
        self.library = library
        self.task = "genre"
        #: Who the hand edits are recorded under; the window sets it from the settings.
        self.user = default_user()
        self.track_id: int | None = None
        self.selection: list[int] = []
        self.taxonomy = {name.casefold(): name for name in GENRE_LABELS}

        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setMaximumHeight(110)
        self.entry = QLineEdit()
        self.entry.setPlaceholderText("Add a genre…")
        completer = QCompleter(list(GENRE_LABELS), self.entry)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.entry.setCompleter(completer)
        self.entry.returnPressed.connect(self.add_from_entry)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_from_entry)
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip("Accept the selected predicted genres, so export writes them")
        self.keep_button.clicked.connect(lambda: self._edit_selected(keep=True))
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Reject the selected genres: export leaves them out")
        self.remove_button.clicked.connect(lambda: self._edit_selected(keep=False))
        self.scope = QLabel("")
        self.scope.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)

        add_row = QHBoxLayout()
        add_row.addWidget(self.entry, 1)
        add_row.addWidget(self.add_button)
        edit_row = QHBoxLayout()
        edit_row.addWidget(self.keep_button)
        edit_row.addWidget(self.remove_button)
        edit_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scope)
        layout.addWidget(self.list)
        layout.addLayout(edit_row)
        layout.addLayout(add_row)
        layout.addWidget(self.message)
        self.show_track(None)

    # -- what is shown ---------------------------------------------------------------------
    def show_track(self, track_id: int | None, why_not: str = "") -> None:
        """Show the labels of ``track_id``; None (with ``why_not``) disables editing."""
        self.track_id = track_id
        self.message.setText(why_not)
        self.reload()

    def set_selection(self, ids: list[int]) -> None:
        """The table's selected tracks: edits apply to all of them when several are chosen."""
        self.selection = list(ids)
        self._update_scope()

    def targets(self) -> list[int]:
        """The tracks the next edit applies to."""
        if self.track_id is None:
            return []
        if len(self.selection) > 1 and self.track_id in self.selection:
            return self.selection
        return [self.track_id]

    def reload(self) -> None:
        self.list.clear()
        if self.track_id is not None:
            with self.library.session() as s:
                rows = label_rows(s, self.track_id, self.task)
            for label, how in rows:
                item = QListWidgetItem(f"{label}  —  {how}")
                item.setData(LABEL_ROLE, label)
                self.list.addItem(item)
        enabled = self.track_id is not None
        for widget in (
            self.list,
            self.entry,
            self.add_button,
            self.keep_button,
            self.remove_button,
        ):
            widget.setEnabled(enabled)
        self._update_scope()

    def refresh(self) -> None:
        """Re-read after other programs wrote; rebuilt only if the list changed (keeps choices)."""
        if self.track_id is None:
            return
        with self.library.session() as s:
            rows = label_rows(s, self.track_id, self.task)
        shown = [self.list.item(i).text() for i in range(self.list.count())]
        if [f"{label}  —  {how}" for label, how in rows] != shown:
            self.reload()

    def labels(self) -> list[str]:
        """The labels listed now (what export would write for the shown track)."""
        return [str(self.list.item(i).data(LABEL_ROLE)) for i in range(self.list.count())]

    def _update_scope(self) -> None:
        n = len(self.targets())
        if n > 1:
            self.scope.setText(f"Changes apply to the {n:,} selected tracks.")
        elif n == 1:
            self.scope.setText("Changes apply to this track.")
        else:
            self.scope.setText("")

    # -- edits -----------------------------------------------------------------------------
    def add_from_entry(self) -> None:
        text = self.entry.text().strip()
        if not text:
            return
        label = self.taxonomy.get(text.casefold())
        if label is None:
            self.message.setText(
                f"“{text}” is not a genre of the taxonomy; pick one from the list."
            )
            return
        if self.apply(label, keep=True):
            self.entry.clear()

    def _edit_selected(self, keep: bool) -> None:
        chosen = [str(i.data(LABEL_ROLE)) for i in self.list.selectedItems()]
        if not chosen:
            self.message.setText("Select a genre in the list first.")
            return
        for label in chosen:
            if not self.apply(label, keep):
                return

    def apply(self, label: str, keep: bool) -> bool:
        """Keep (accept/add) or remove (reject) ``label`` on every target track."""
        targets = self.targets()
        if not targets:
            return False
        try:
            n = review.set_label(
                self.library, targets, self.task, label, keep, SHOW_THRESHOLD, self.user
            )
        except TaggerError as err:
            self.message.setText(str(err))
            return False
        where = "this track" if n == 1 else f"{n:,} tracks"
        self.message.setText(f"{'Kept' if keep else 'Removed'} {label} on {where}.")
        self.reload()
        self.changed.emit()
        return True
