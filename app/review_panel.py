"""Review mode: the flagged queue, most useful first, driven from the keyboard.

Keys: N/→ next track, B/← previous, ↑/↓ move the label cursor, T or Enter
toggles the label under the cursor (accept ↔ reject), A accepts the track
(predicted labels accepted, track marked reviewed), R rejects it (predicted
labels rejected, marked reviewed), Space plays, U or Ctrl+Z undoes the last step.
Album by album (``open_album``): the album's tracks in playing order, and L accepts
the album-level labels for every track at once; single tracks are then overridden
with the usual keys.
Every decision is written at once through ``tagger_core.trust.review``, under the
librarian's name (the field above the queue; the OS login by default). On a shared
library the queue is the librarian's claims (see ``app.review_claims``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from app.confidence_bars import ConfidenceBars
from app.flag_policy_dialog import FlagPolicyDialog, StartJob
from app.preview import Player
from app.review_claims import HeldByOthers, claims_of_task, until
from app.spectrogram import load_clip
from app.track_detail import reason_text
from app.workers import Job
from tagger_core.db import Library
from tagger_core.db.models import Prediction, Track
from tagger_core.errors import TaggerError
from tagger_core.labels.tasks import GENRE_BUNDLE, task_bundles
from tagger_core.library.album_views import album_row, album_track_ids
from tagger_core.trust import review
from tagger_core.trust.album_review import accept_album_labels
from tagger_core.trust.albums import AlbumPrediction, album_task_predictions
from tagger_core.trust.claims import CLAIM_BATCH, CLAIM_HOURS, Claim, hold_batch
from tagger_core.trust.librarians import check_user, default_user

QUEUE_LIMIT = 5000
HELP = (
    "<b>Keys</b>: N / → next · B / ← previous · ↑ ↓ choose label · T / Enter toggle label · "
    "A accept track · R reject track · L accept the album's labels for all its tracks · "
    "Space play · U / Ctrl+Z undo"
)


REVIEW_VALUE_HELP = (
    "Review value: how close this track's least certain label is to a coin toss "
    "(1 = a label at 0.50 or the ensemble members split, 0 = every label sure). "
    "The queue shows the highest first, where a decision teaches the most."
)
_DONE = {"accept": "accepted", "add": "added", "reject": "rejected"}


@dataclass
class Step:
    """One keyboard step: the decisions it wrote, so undo can take them all back and say what."""

    track_id: int
    decisions: int
    what: str
    #: For an album step: decisions written per track (``decisions`` is their sum).
    per_track: dict[int, int] | None = None


class ReviewPanel(QWidget):
    """The review queue of one model bundle and the decisions made on it."""

    decisions_changed = Signal()
    #: The librarian's name changed (the window stores it and hands it to the label editor).
    user_changed = Signal(str)

    def __init__(
        self,
        library: Library,
        player: Player | None = None,
        start_job: StartJob | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.player = player or Player()
        self.start_job = start_job
        self.policy_dialog: FlagPolicyDialog | None = None
        # The label the cursor is on: it follows the label, not the row, and goes
        # back to the first flagged label on every new track.
        self.cursor_label: str | None = None
        self._cursor_track: int | None = None
        self.bundle_id = GENRE_BUNDLE
        self.threshold = 0.5
        self.queue: list[int] = []
        self.position = -1
        self.steps: list[Step] = []
        self.audio: dict[int, np.ndarray] = {}
        self._jobs: list[Job] = []
        self.counts: dict[str, Any] = {}
        self.track_name = ""
        self.album_key: str | None = None
        #: Who decides; set from the settings by the window.
        self.user = default_user()
        #: Whether the queue is the librarian's claims (shared libraries; see app.review_claims).
        self.through_claims = False
        self.claim_size: tuple[int, float] = (CLAIM_BATCH, CLAIM_HOURS)
        #: Live claims of the waiting tracks of this task, by track.
        self.holders: dict[int, Claim] = {}
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.user_box = QLineEdit(self.user)
        self.user_box.setToolTip("Your name: every decision records who made it")
        self.user_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.user_box.editingFinished.connect(lambda: self.set_user(self.user_box.text()))
        self.claim_button = QPushButton("Claim more")
        self.claim_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.claim_button.setToolTip(
            "Take a new batch of waiting tracks nobody else holds (tops your claims up)"
        )
        self.claim_button.clicked.connect(self.reload)
        self.claim_button.setVisible(False)
        self.others = HeldByOthers()
        self.others.setVisible(False)

        self.bundle_box = QComboBox()
        self.bundle_box.addItem("Genres", "genre")
        self.bundle_box.addItem("Instrument families", "instruments")
        self.bundle_box.currentIndexChanged.connect(self._bundle_changed)
        self.bundle_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.counts_label = QLabel("")
        self.counts_label.setWordWrap(True)
        self.policy_button = QPushButton("Flag policy…")
        self.policy_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.policy_button.setToolTip("See and change why tracks are flagged, with live counts")
        self.policy_button.clicked.connect(self.open_policy)
        self.policy_button.setEnabled(start_job is not None)
        self.queue_list = QListWidget()
        self.queue_list.setToolTip(REVIEW_VALUE_HELP)
        self.queue_list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.queue_list.currentRowChanged.connect(self._list_clicked)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.bundle_box, 1)
        top.addWidget(self.policy_button)
        left_layout.addLayout(top)
        who = QHBoxLayout()
        who.addWidget(QLabel("Librarian:"))
        who.addWidget(self.user_box, 1)
        who.addWidget(self.claim_button)
        left_layout.addLayout(who)
        left_layout.addWidget(self.counts_label)
        left_layout.addWidget(self.queue_list, 2)
        left_layout.addWidget(self.others, 1)

        self.album_label = QLabel("")
        self.album_label.setWordWrap(True)
        self.album_label.setTextFormat(Qt.TextFormat.RichText)
        self.album_label.setVisible(False)
        self.rate_label = QLabel("")
        self.rate_label.setToolTip(
            "Share of this task's analysed tracks that the flag policy flags"
        )
        self.heading = QLabel("")
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.heading.setWordWrap(True)
        self.position_label = QLabel("")
        self.existing_label = QLabel("")
        self.existing_label.setWordWrap(True)
        self.bars = ConfidenceBars()
        self.bars.empty_text = "Nothing to review in this queue."
        bars_box = QGroupBox("Calibrated confidences (± ensemble spread); ✓ accepted, ✗ rejected")
        QVBoxLayout(bars_box).addWidget(self.bars)
        self.reasons_label = QLabel("")
        self.reasons_label.setWordWrap(True)
        reasons_box = QGroupBox("Why it is flagged")
        QVBoxLayout(reasons_box).addWidget(self.reasons_label)
        self.help_label = QLabel(HELP)
        self.help_label.setWordWrap(True)
        self.message = QLabel("")

        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (
            ("previous", "◀ Previous (B)", self.previous),
            ("next", "Next (N) ▶", self.next),
            ("toggle", "Toggle label (T)", self.toggle_label),
            ("accept", "Accept track (A)", self.accept_track),
            ("reject", "Reject track (R)", self.reject_track),
            ("album", "Accept album (L)", self.accept_album),
            ("play", "Play (Space)", self.play),
            ("undo", "Undo (U)", self.undo),
        ):
            button = QPushButton(text)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(slot)
            buttons.addWidget(button)
            self.buttons[key] = button
        if not self.player.available:
            self.buttons["play"].setToolTip(self.player.problem or "")

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.album_label)
        right_layout.addWidget(self.rate_label)
        right_layout.addWidget(self.heading)
        right_layout.addWidget(self.position_label)
        right_layout.addWidget(self.existing_label)
        right_layout.addWidget(bars_box)
        right_layout.addWidget(reasons_box)
        right_layout.addLayout(buttons)
        right_layout.addWidget(self.message)
        right_layout.addWidget(self.help_label)
        right_layout.addStretch(1)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([300, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        for keys, slot, what in (
            (("N", "Right", "J"), self.next, "Next track"),
            (("B", "Left", "K"), self.previous, "Previous track"),
            (("Up",), lambda: self.move_cursor(-1), "Label cursor up"),
            (("Down",), lambda: self.move_cursor(1), "Label cursor down"),
            (("T", "Return", "Enter"), self.toggle_label, "Accept or reject the label"),
            (("A",), self.accept_track, "Accept the track's suggestions"),
            (("R",), self.reject_track, "Reject the track's suggestions"),
            (("L",), self.accept_album, "Accept the album's labels on every track"),
            (("Space",), self.play, "Play or stop the preview"),
            (("U", "Ctrl+Z"), self.undo, "Undo the last decision"),
        ):
            for key in keys:
                sc = QShortcut(QKeySequence(key), self)
                sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                sc.setWhatsThis(what)  # read by the keyboard-shortcut sheet
                sc.activated.connect(slot)
        self._update_buttons()

    # -- queue -----------------------------------------------------------------------------
    @property
    def task(self) -> str:
        return str(self.bundle_box.currentData())

    def _bundle_changed(self, _index: int) -> None:
        if self.album_key is not None:
            self.open_album(self.album_key)  # the same album, the other task
        else:
            self.reload()

    def reload(self) -> None:
        """Re-read the queue (flagged, not yet reviewed, most uncertain first)."""
        self._leave_album()
        keep = self.current_track_id()
        mine: list[int] | None = None
        if self.through_claims:
            batch, hours = self.claim_size
            try:
                mine = hold_batch(self.library, self.user, batch, hours=hours, task=self.task)
            except TaggerError as err:
                self.message.setText(f"Could not claim tracks: {err}")
                mine = []
        with self.library.session() as s:
            shown = task_bundles(s)
            self.bundle_id = shown.for_task(self.task)
            preds = review.review_queue(s, self.bundle_id, self.task, limit=QUEUE_LIMIT, only=mine)
            ids = [p.track_id for p in preds]
            names = {
                tid: title or path.rsplit("/", 1)[-1]
                for tid, title, path in s.execute(
                    select(Track.id, Track.title, Track.path_text).where(Track.id.in_(ids))
                ).all()
            }
            scores = {p.track_id: p.uncertainty for p in preds}
        self.queue = ids
        self.queue_list.blockSignals(True)
        self.queue_list.clear()
        for tid in ids:
            item = QListWidgetItem(f"{names[tid]} — review value {scores[tid]:.2f}")
            item.setData(Qt.ItemDataRole.UserRole, tid)
            item.setToolTip(REVIEW_VALUE_HELP)
            self.queue_list.addItem(item)
        self.queue_list.blockSignals(False)
        self.position = ids.index(keep) if keep in ids else (0 if ids else -1)
        self._update_holders()
        self._show()
        self._update_counts()

    def set_user(self, name: str) -> None:
        """Record decisions under ``name`` from now on (blank: the OS login)."""
        try:
            name = check_user(name)
        except TaggerError as err:
            self.message.setText(str(err))
            self.user_box.setText(self.user)
            return
        self.user_box.setText(name)
        if name == self.user:
            return
        self.user = name
        self.steps.clear()  # undo takes back only the decisions of the name they were made under
        self.user_changed.emit(name)
        if not self.isVisible():
            return  # entering review mode reloads the queue
        if self.through_claims:
            self.reload()
        else:
            self._update_holders()
            self._show()

    def _update_holders(self) -> None:
        """Who holds which waiting track of this task; others' claims listed under the queue."""
        self.holders = claims_of_task(self.library, self.task)
        others = [c for c in self.holders.values() if c.user != self.user]
        self.others.show_claims(self.library, others)
        self.others.setVisible(self.through_claims or bool(others))
        self.claim_button.setVisible(self.through_claims)

    def holder_text(self, track_id: int) -> str:
        """ "held by you until 14:30", "held by bob until 14:30", or "" when nobody holds it."""
        claim = self.holders.get(track_id)
        if claim is None:
            return ""
        who = "you" if claim.user == self.user else claim.user
        return f"held by {who} until {until(claim)}"

    def open_tracks(self, ids: list[int]) -> None:
        """Review these tracks (the library's selection) in place of the flagged queue.

        The queue comes back on the next reload (switching task or tab).
        """
        self._leave_album()
        ids = list(dict.fromkeys(ids))[:QUEUE_LIMIT]
        with self.library.session() as s:
            names = dict(
                s.execute(select(Track.id, Track.path_text).where(Track.id.in_(ids))).all()
            )
        self.queue = [tid for tid in ids if tid in names]
        self._update_holders()
        self.queue_list.blockSignals(True)
        self.queue_list.clear()
        for tid in self.queue:
            item = QListWidgetItem(names[tid].rsplit("/", 1)[-1])
            item.setData(Qt.ItemDataRole.UserRole, tid)
            self.queue_list.addItem(item)
        self.queue_list.blockSignals(False)
        self.position = 0 if self.queue else -1
        self._show()
        self._update_counts()

    def open_album(self, key: str) -> None:
        """Review one album: its tracks in playing order, L accepts the album's labels."""
        with self.library.session() as s:
            ids = album_track_ids(s, key)
        self.open_tracks(ids)
        self.album_key = key
        self._show_album()

    def _leave_album(self) -> None:
        self.album_key = None
        self.album_label.setVisible(False)

    def album_prediction(self) -> AlbumPrediction | None:
        """The album-level prediction of the open album for the current task."""
        if self.album_key is None:
            return None
        with self.library.session() as s:
            found = album_task_predictions(s, [self.album_key])
        return found.get(self.album_key, {}).get(self.task)

    def _show_album(self) -> None:
        pred = self.album_prediction()
        with self.library.session() as s:
            album = album_row(s, self.album_key) if self.album_key else None
        if album is None:
            self._leave_album()
            return
        labels = pred.summary(self.threshold) if pred else ""
        mark = "" if pred is None else (" (calibrated)" if pred.calibrated else " (uncalibrated)")
        flags = "".join(f"<br>⚑ {_html(r)}" for r in (pred.reasons if pred else []))
        self.album_label.setText(
            f"<b>Album: {_html(album.album)}</b> — {_html(album.artist)}, "
            f"{album.tracks} tracks. Album labels: <b>{_html(labels or '—')}</b>{mark}. "
            f"L accepts them for every track; then override single tracks.{flags}"
        )
        self.album_label.setVisible(True)

    def accept_album(self) -> None:
        """Accept the album-level labels on every track of the open album, one undoable step."""
        pred = self.album_prediction()
        if pred is None:
            self.message.setText("Open an album (its view in the library) to accept it whole.")
            return
        labels = [k for k, v in pred.ranked() if v >= self.threshold]
        if not labels:
            self.message.setText("No album label clears the threshold; review track by track.")
            return
        written = accept_album_labels(self.library, self.task, self.queue, labels, self.user)
        what = f"album accepted as {', '.join(labels)} on {len(written)} tracks"
        self.message.setText(f"{what.capitalize()}.")
        tid = self.current_track_id() or self.queue[0]
        self._after_step(Step(tid, sum(written.values()), what, written), advance=False)

    def current_track_id(self) -> int | None:
        return self.queue[self.position] if 0 <= self.position < len(self.queue) else None

    def _list_clicked(self, row: int) -> None:
        if 0 <= row < len(self.queue) and row != self.position:
            self.position = row
            self._show()

    def next(self) -> None:
        if self.position + 1 < len(self.queue):
            self.position += 1
            self._show()

    def previous(self) -> None:
        if self.position > 0:
            self.position -= 1
            self._show()

    def move_cursor(self, delta: int) -> None:
        if self.bars.items:
            row = min(max(self.bars.cursor + delta, 0), len(self.bars.items) - 1)
            self.bars.set_cursor(row)
            self.cursor_label = self.bars.label_at_cursor()

    def _place_cursor(self, track_id: int, reasons: list[dict[str, Any]]) -> None:
        """Keep the cursor on its label; on a new track, start at the first flagged label."""
        labels = [label for label, _, _ in self.bars.items]
        if track_id != self._cursor_track or self.cursor_label not in labels:
            flagged = [r.get("label") for r in reasons if r.get("label") in labels]
            self.cursor_label = flagged[0] if flagged else (labels[0] if labels else None)
        self._cursor_track = track_id
        self.bars.set_cursor(labels.index(self.cursor_label) if self.cursor_label else -1)

    # -- showing ---------------------------------------------------------------------------
    def _prediction(self, track_id: int) -> tuple[Any, Any]:
        with self.library.session() as s:
            pred = s.scalar(
                select(Prediction).where(
                    Prediction.track_id == track_id, Prediction.bundle_id == self.bundle_id
                )
            )
            track = s.get(Track, track_id)
            return pred, track

    def marks(self, track_id: int) -> dict[str, str]:
        """``{label: "accept"|"reject"}`` from the live decisions of this track and task."""
        with self.library.session() as s:
            state = review.reviews(s, self.task, [track_id]).get(track_id)
        if state is None:
            return {}
        out = {label: "accept" for label in state.accepted}
        out.update({label: "reject" for label in state.rejected})
        return out

    def is_reviewed(self, track_id: int) -> bool:
        with self.library.session() as s:
            state = review.reviews(s, self.task, [track_id]).get(track_id)
        return bool(state and state.reviewed)

    def _show(self) -> None:
        tid = self.current_track_id()
        self.queue_list.blockSignals(True)
        self.queue_list.setCurrentRow(self.position)
        self.queue_list.blockSignals(False)
        if tid is None:
            self.heading.setText("<b>The review queue is empty.</b>")
            self.position_label.setText("")
            self.existing_label.setText("")
            self.bars.set_values(None)
            self.bars.set_marks({})
            self.reasons_label.setText("")
            self._update_buttons()
            return
        pred, track = self._prediction(tid)
        title = (track.title or track.path_text.rsplit("/", 1)[-1]) if track else f"track {tid}"
        artist = (track.artist or "") if track else ""
        by = f" — {_html(artist)}" if artist else ""
        self.heading.setText(f"<b style='font-size:14pt'>{_html(title)}</b>{by}")
        self.track_name = title
        done = " · ✓ reviewed" if self.is_reviewed(tid) else ""
        holder = self.holder_text(tid)
        held = f" · {holder}" if holder else ""
        self.position_label.setText(f"Track {self.position + 1} of {len(self.queue)}{done}{held}")
        existing = "; ".join(track.genres or []) if track else ""
        self.existing_label.setText(f"Existing genre tag: {existing or '—'}")
        self.bars.set_values(pred.confidences if pred else None, pred.spread if pred else None)
        self._place_cursor(tid, list(pred.flag_reasons or []) if pred else [])
        self.bars.set_marks(self.marks(tid))
        reasons = [reason_text(r) for r in (pred.flag_reasons or [])] if pred else []
        self.reasons_label.setText("\n".join(f"⚑ {r}" for r in reasons) or "—")
        self._update_buttons()

    def _update_counts(self) -> None:
        with self.library.session() as s:
            c = review.review_counts(s)
        left = sum(1 for tid in self.queue if tid not in self._reviewed_ids())
        rates = "\n".join(
            f"{t.rate_text}, {t.waiting:,} waiting" for t in c["tasks"].values() if t.tracks
        )
        self.counts_label.setText(
            f"This queue: {left:,} of {len(self.queue):,} left\n{rates}\n"
            f"Both tasks: {c['waiting']:,} tracks waiting, {c['reviewed']:,} reviewed, "
            f"{c['decisions']:,} decisions"
        )
        self.rate_label.setText(f"<b>{c['tasks'][self.task].rate_text}</b>")
        self.counts = c

    def _reviewed_ids(self) -> set[int]:
        with self.library.session() as s:
            state = review.reviews(s, self.task, self.queue[:QUEUE_LIMIT])
        return {tid for tid, st in state.items() if st.reviewed}

    def _update_buttons(self) -> None:
        has = self.current_track_id() is not None
        for key in ("toggle", "accept", "reject"):
            self.buttons[key].setEnabled(has)
        self.buttons["album"].setEnabled(has and self.album_key is not None)
        self.buttons["play"].setEnabled(has and self.player.available)
        self.buttons["previous"].setEnabled(self.position > 0)
        self.buttons["next"].setEnabled(0 <= self.position < len(self.queue) - 1)
        self.buttons["undo"].setEnabled(bool(self.steps))

    # -- decisions -------------------------------------------------------------------------
    def _after_step(self, step: Step, advance: bool) -> None:
        self.steps.append(step)
        self._update_holders()  # a reviewed mark released the claim
        self._update_counts()
        self.decisions_changed.emit()
        if advance and self.position + 1 < len(self.queue):
            self.position += 1
        self._show()

    def _decide(self, tid: int, label: str, action: str) -> None:
        confidence = next((v for k, v, _ in self.bars.items if k == label), None)
        review.decide(self.library, tid, self.task, label, action, confidence, user=self.user)

    def toggle_label(self) -> None:
        """Accept ↔ reject the label under the cursor (undecided: the opposite of the model)."""
        tid, label = self.current_track_id(), self.bars.label_at_cursor()
        if tid is None or label is None:
            return
        current = self.marks(tid).get(label)
        value = next(v for k, v, _ in self.bars.items if k == label)
        if current == "accept":
            action = "reject"
        elif current == "reject":
            action = "accept" if value >= self.threshold else "add"
        else:
            action = "reject" if value >= self.threshold else "add"
        self._decide(tid, label, action)
        what = f"{label} {_DONE[action]}"
        self.message.setText(f"{what} on ‘{self.track_name}’.")
        self._after_step(Step(tid, 1, what), advance=False)

    def _finish_track(self, accept: bool) -> None:
        tid = self.current_track_id()
        if tid is None:
            return
        marks = self.marks(tid)
        n = 0
        for label, value, _ in self.bars.items:
            if value >= self.threshold and label not in marks:
                self._decide(tid, label, "accept" if accept else "reject")
                n += 1
        review.mark_reviewed(self.library, tid, self.task, self.user)
        what = f"track {'accepted' if accept else 'rejected'} and marked reviewed"
        self.message.setText(f"{what.capitalize()}: ‘{self.track_name}’.")
        self._after_step(Step(tid, n + 1, what), advance=True)

    def accept_track(self) -> None:
        self._finish_track(accept=True)

    def reject_track(self) -> None:
        self._finish_track(accept=False)

    def undo(self) -> None:
        """Take back the last step (all the decisions it wrote) and go back to its track."""
        if not self.steps:
            self.message.setText("Nothing to undo.")
            return
        step = self.steps.pop()
        for tid, n in (step.per_track or {step.track_id: step.decisions}).items():
            for _ in range(n):
                review.undo_last(self.library, tid, user=self.user)
        if step.track_id in self.queue:
            self.position = self.queue.index(step.track_id)
        with self.library.session() as s:
            track = s.get(Track, step.track_id)
            name = track.display_name if track else f"track {step.track_id}"
        self.message.setText(f"Undid: {step.what} on ‘{name}’.")
        self._update_holders()
        self._update_counts()
        self.decisions_changed.emit()
        self._show()

    # -- flag policy -----------------------------------------------------------------------
    def open_policy(self) -> FlagPolicyDialog | None:
        """Show the flag policy with live counts; applying it reloads the queue."""
        if self.start_job is None:
            return None
        if self.policy_dialog is None:
            self.policy_dialog = FlagPolicyDialog(self.library, self.start_job, self)
            self.policy_dialog.applied.connect(lambda _r: self._policy_applied())
        self.policy_dialog.show()
        self.policy_dialog.raise_()
        self.policy_dialog.load()
        return self.policy_dialog

    def _policy_applied(self) -> None:
        self.reload()
        self.decisions_changed.emit()

    # -- preview ---------------------------------------------------------------------------
    def play(self) -> None:
        tid = self.current_track_id()
        if tid is None or not self.player.available:
            if not self.player.available:
                self.message.setText(self.player.problem or "")
            return
        if tid in self.audio:
            self.player.play(self.audio[tid])
            return
        _, track = self._prediction(tid)
        if track is None:
            return
        path = track.path
        job = Job("preview", lambda _r, _c: load_clip(path), self)
        job.finished.connect(lambda audio, t=tid: self._audio_ready(t, audio))
        job.failed.connect(self.message.setText)
        job.ended.connect(lambda j=job: self._jobs.remove(j))
        self._jobs.append(job)
        job.start()

    def _audio_ready(self, tid: int, audio: np.ndarray) -> None:
        self.audio = {tid: audio}
        if tid == self.current_track_id():
            self.player.play(audio)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
