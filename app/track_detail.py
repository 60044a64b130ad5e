"""The track detail panel: existing tags, calibrated confidences, flags, spectrogram, preview."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select

from app.confidence_bars import ConfidenceBars
from app.label_editor import LabelEditor
from app.preview import Player
from app.spectrogram import load_clip, log_mel, to_rgb
from app.workers import Job
from tagger_core.db import Library
from tagger_core.db.analysis_versions import outdated_for_tracks, outdated_note
from tagger_core.db.models import Analysis, Calibration, Prediction, Track
from tagger_core.labels.bundles import installed_versions
from tagger_core.labels.tasks import task_bundles
from tagger_core.trust.conformal import label_set
from tagger_core.trust.predictions import UNCALIBRATED_MARK


@dataclass
class TrackDetail:
    """Everything the panel shows about one track, read in one short transaction."""

    id: int
    path: bytes
    path_text: str
    status: str
    error: str | None
    fields: list[tuple[str, str]]
    raw_tags: dict[str, Any]
    genre: tuple[dict[str, float], dict[str, float]] | None = None
    #: tasks ("genre", "instruments") whose shown model has no calibration
    uncalibrated: set[str] = field(default_factory=set)
    instruments: tuple[dict[str, float], dict[str, float]] | None = None
    flag_reasons: list[str] = field(default_factory=list)
    #: per task, the conformal label-set line when the prediction's calibration has one
    label_sets: dict[str, str] = field(default_factory=dict)
    flagged: bool = False
    analysis_error: str | None = None
    #: per task, the outdated mark when its predictions come from an earlier bundle version
    outdated: dict[str, str] = field(default_factory=dict)


def box_title(task: str, calibrated: bool, outdated: bool = False) -> str:
    """The bars' group title, saying whether the scores are calibrated and current."""
    what = "Predicted genres" if task == "genre" else "Instrument families"
    how = "calibrated" if calibrated else "uncalibrated scores"
    old = ", outdated model version" if outdated else ""
    return f"{what} ({how}{old}, ± member spread)"


def label_set_text(confidences: dict[str, float], conformal: dict[str, Any]) -> str:
    """The conformal set as a line: the labels that hold all true ones at the coverage given."""
    labels = tuple(confidences)
    names = label_set([float(confidences[k]) for k in labels], conformal, labels)
    coverage = f"{float(conformal['target']) * 100:g} %"
    return f"Label set at {coverage} coverage: {', '.join(names) if names else '(empty)'}"


def reason_text(reason: Any) -> str:
    """A stored flag reason as a sentence (the policy stores dicts with a ``message``)."""
    if isinstance(reason, dict):
        return str(reason.get("message") or reason.get("code") or reason)
    return str(reason)


def _duration(seconds: float | None) -> str:
    if not seconds:
        return ""
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def load_detail(library: Library, track_id: int) -> TrackDetail | None:
    """Read the panel's data for ``track_id`` (None when the track is gone)."""
    with library.session() as s:
        t = s.get(Track, track_id)
        if t is None:
            return None
        fields = [
            ("Title", t.title or ""),
            ("Artist", t.artist or ""),
            ("Album", t.album or ""),
            ("Album artist", t.album_artist or ""),
            ("Year", str(t.year or "")),
            ("Track", str(t.track_no or "")),
            ("Disc", str(t.disc_no or "")),
            ("Genres", "; ".join(t.genres or [])),
            ("Comment", t.comment or ""),
            ("Format", " / ".join(x for x in (t.format, t.codec) if x)),
            ("Duration", _duration(t.duration)),
            ("Sample rate", f"{t.sample_rate} Hz" if t.sample_rate else ""),
        ]
        detail = TrackDetail(
            id=t.id,
            path=t.path,
            path_text=t.path_text,
            status=t.status,
            error=t.error,
            fields=[(k, v) for k, v in fields if v],
            raw_tags=dict(t.raw_tags or {}),
        )
        detail.analysis_error = s.scalar(
            select(Analysis.error).where(Analysis.track_id == track_id, Analysis.status != "ok")
        )
        shown = task_bundles(s)
        old_versions = outdated_for_tracks(s, installed_versions(), [track_id])
        for p in s.scalars(select(Prediction).where(Prediction.track_id == track_id)):
            pair = (dict(p.confidences or {}), dict(p.spread or {}))
            if p.bundle_id == shown.genre:
                detail.genre, task = pair, "genre"
            elif p.bundle_id == shown.instruments:
                detail.instruments, task = pair, "instruments"
            else:
                continue
            if (p.summary or "").endswith(UNCALIBRATED_MARK):
                detail.uncalibrated.add(task)
            if (track_id, p.bundle_id) in old_versions:
                version = old_versions[(track_id, p.bundle_id)]
                detail.outdated[task] = outdated_note(p.bundle_id, version)
            # the set's threshold belongs to the calibration these confidences came from
            calibration = s.get(Calibration, p.calibration_id) if p.calibration_id else None
            conformal = (calibration.params or {}).get("conformal") if calibration else None
            if conformal and p.confidences:
                detail.label_sets[task] = label_set_text(dict(p.confidences), conformal)
            detail.flagged = detail.flagged or bool(p.flagged)
            detail.flag_reasons.extend(reason_text(r) for r in (p.flag_reasons or []))
        return detail


def spectrogram_job(path: bytes) -> Any:
    """Work for a thread: decode the start of the track, return (audio, RGB picture)."""

    def run(_report: Any, _cancel: Any) -> tuple[np.ndarray, np.ndarray]:
        audio = load_clip(path)
        return audio, to_rgb(log_mel(audio))

    return run


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    h, w, _ = rgb.shape
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class TrackDetailPanel(QWidget):
    """Shows one track; ``show_track(id)`` switches to another."""

    spectrogram_ready = Signal(int)
    #: A hand edit of labels was stored (the table's Flag and counts may change).
    decisions_changed = Signal()

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.track_id: int | None = None
        self.detail: TrackDetail | None = None
        self.audio: np.ndarray | None = None
        self.player = Player()
        self._jobs: list[Job] = []

        self.heading = QLabel("No track selected")
        self.heading.setWordWrap(True)
        self.heading.setTextFormat(Qt.TextFormat.RichText)
        self.path_label = QLabel("")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setStyleSheet("color: palette(mid);")

        self.play_button = QPushButton("▶ Play")
        self.stop_button = QPushButton("■ Stop")
        self.play_button.clicked.connect(self.play)
        self.stop_button.clicked.connect(self.stop)
        self._set_play_enabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.play_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)

        self.tags_box = QGroupBox("Existing tags")
        self.tags_form = QFormLayout(self.tags_box)
        self.raw_tree = QTreeWidget()
        self.raw_tree.setHeaderLabels(["Raw tag", "Value"])
        self.raw_tree.setRootIsDecorated(False)
        self.raw_tree.setMinimumHeight(90)
        self.raw_tree.setMaximumHeight(160)
        self.tags_form.addRow(self.raw_tree)

        self.genre_bars = ConfidenceBars()
        self.instrument_bars = ConfidenceBars()
        self.genre_box = genre_box = QGroupBox(box_title("genre", calibrated=True))
        self.inst_box = inst_box = QGroupBox(box_title("instruments", calibrated=True))
        #: per task, the conformal label set under the bars (hidden when there is none)
        self.set_labels = {"genre": QLabel(""), "instruments": QLabel("")}
        for box, bars, task in (
            (genre_box, self.genre_bars, "genre"),
            (inst_box, self.instrument_bars, "instruments"),
        ):
            box_layout = QVBoxLayout(box)
            box_layout.addWidget(bars)
            self.set_labels[task].setWordWrap(True)
            self.set_labels[task].setVisible(False)
            box_layout.addWidget(self.set_labels[task])

        self.label_editor = LabelEditor(library)
        self.label_editor.changed.connect(self.decisions_changed)

        self.flags_label = QLabel("")
        self.flags_label.setWordWrap(True)
        flags_box = QGroupBox("Review flags")
        QVBoxLayout(flags_box).addWidget(self.flags_label)

        self.spectrogram = QLabel("")
        self.spectrogram.setMinimumHeight(120)
        self.spectrogram.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.spectrogram.setScaledContents(True)
        self.spectrogram.setFixedHeight(140)
        self.spectrogram_note = QLabel("")
        self.spectrogram_note.setWordWrap(True)
        spec_box = QGroupBox("Log-mel spectrogram (first 30 s)")
        spec_layout = QVBoxLayout(spec_box)
        spec_layout.addWidget(self.spectrogram)
        spec_layout.addWidget(self.spectrogram_note)

        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addWidget(self.heading)
        layout.addWidget(self.path_label)
        layout.addLayout(buttons)
        layout.addWidget(genre_box)
        layout.addWidget(inst_box)
        layout.addWidget(self.label_editor)
        layout.addWidget(flags_box)
        layout.addWidget(spec_box)
        layout.addWidget(self.tags_box)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _set_play_enabled(self, have_audio: bool) -> None:
        ok = self.player.available and have_audio
        self.play_button.setEnabled(ok)
        self.stop_button.setEnabled(ok)
        if not self.player.available:
            tip = self.player.problem or ""
        elif not have_audio:
            tip = "Select a readable track; its audio is still loading or cannot be decoded."
        else:
            tip = "Play the first 30 seconds (Space)"
        self.play_button.setToolTip(tip)
        self.stop_button.setToolTip(tip if not ok else "Stop the preview")

    def refresh(self) -> None:
        """Re-read the shown track after other programs wrote to the library.

        Redrawn only when what it shows changed, so a preview keeps playing otherwise.
        """
        if self.track_id is None:
            return
        if load_detail(self.library, self.track_id) != self.detail:
            self.show_track(self.track_id)
        else:
            self.label_editor.refresh()

    def show_track(self, track_id: int | None) -> None:
        """Show ``track_id`` (None clears the panel)."""
        self.stop()
        self.track_id = track_id
        self.audio = None
        self._set_play_enabled(False)
        self.detail = load_detail(self.library, track_id) if track_id is not None else None
        d = self.detail
        while self.tags_form.rowCount() > 1:
            self.tags_form.removeRow(0)
        self.raw_tree.clear()
        self.spectrogram.clear()
        for task, label in self.set_labels.items():
            label.setText(d.label_sets.get(task, "") if d is not None else "")
            label.setVisible(bool(label.text()))
        self.spectrogram_note.setText("")
        if d is None:
            self.heading.setText("No track selected")
            self.path_label.setText("")
            for bars in (self.genre_bars, self.instrument_bars):
                bars.empty_text = "Not analysed yet."
                bars.set_values(None)
            self.flags_label.setText("")
            self.label_editor.show_track(None)
            return
        title = next((v for k, v in d.fields if k == "Title"), os.path.basename(d.path_text))
        artist = next((v for k, v in d.fields if k == "Artist"), "")
        self.heading.setText(f"<b style='font-size:14pt'>{_html(title)}</b><br>{_html(artist)}")
        status = "" if d.status == "ok" else f"  [{d.status}: {d.error or ''}]"
        self.path_label.setText(d.path_text + status)
        for i, (name, value) in enumerate(d.fields):
            label = QLabel(value)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.tags_form.insertRow(i, name + ":", label)
        for tag, values in sorted(d.raw_tags.items()):
            text = " | ".join(str(v) for v in values) if isinstance(values, list) else str(values)
            QTreeWidgetItem(self.raw_tree, [tag, text])
        self.raw_tree.resizeColumnToContents(0)
        for bars in (self.genre_bars, self.instrument_bars):
            bars.empty_text = bars_empty_text(d)
        self.genre_bars.set_values(*(d.genre or (None, None)))
        self.instrument_bars.set_values(*(d.instruments or (None, None)))
        for task, box, bars in (
            ("genre", self.genre_box, self.genre_bars),
            ("instruments", self.inst_box, self.instrument_bars),
        ):
            calibrated = task not in d.uncalibrated
            box.setTitle(box_title(task, calibrated, task in d.outdated))
            box.setToolTip(d.outdated.get(task, ""))
            bars.set_calibrated(calibrated)
        if d.flag_reasons:
            self.flags_label.setText("\n".join(f"⚑ {r}" for r in d.flag_reasons))
        elif d.genre or d.instruments:
            self.flags_label.setText("No flags: the confidences are trusted as they are.")
        else:
            self.flags_label.setText(not_analysed_text(d))
        if d.status == "ok":
            self.label_editor.show_track(d.id)
        else:
            self.label_editor.show_track(None, "An unreadable file's tags cannot be written.")
        if d.status == "ok":
            self.spectrogram_note.setText("Computing…")
            job = Job("spectrogram", spectrogram_job(d.path), self)
            job.finished.connect(lambda result, tid=d.id: self._spectrogram_done(tid, result))
            job.failed.connect(lambda msg, tid=d.id: self._spectrogram_failed(tid, msg))
            job.ended.connect(lambda j=job: self._forget(j))
            self._jobs.append(job)
            job.start()
        else:
            self.spectrogram_note.setText("No audio: the file is not readable.")

    def _spectrogram_done(self, track_id: int, result: tuple[np.ndarray, np.ndarray]) -> None:
        if track_id != self.track_id:
            return
        self.audio, rgb = result
        self.spectrogram.setPixmap(rgb_to_pixmap(rgb))
        self.spectrogram_note.setText("")
        self._set_play_enabled(True)
        self.spectrogram_ready.emit(track_id)

    def _spectrogram_failed(self, track_id: int, message: str) -> None:
        if track_id == self.track_id:
            self.spectrogram_note.setText(message)

    def _forget(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        job.deleteLater()

    def play(self) -> None:
        if self.audio is not None:
            self.player.play(self.audio)

    def stop(self) -> None:
        self.player.stop()

    def wait_for_jobs(self, ms: int = 30000) -> None:
        for job in list(self._jobs):
            job.wait(ms)


def not_analysed_text(d: TrackDetail) -> str:
    """Why a track has no predictions: unreadable, analysis failed, or not analysed yet."""
    if d.status != "ok":
        reason = f": {d.error}" if d.error else ""
        return f"Cannot be analysed — the file is {d.status}{reason}"
    if d.analysis_error:
        return f"Analysis failed: {d.analysis_error}"
    return "Not analysed yet."


def bars_empty_text(d: TrackDetail) -> str:
    """What an empty confidence chart says (short; the flags box gives the reason)."""
    if d.status != "ok":
        return f"Cannot be analysed: the file is {d.status}."
    return "Analysis failed (reason below)." if d.analysis_error else "Not analysed yet."


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
