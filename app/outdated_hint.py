"""The status-bar button that says how many tracks hold analyses of an earlier model version.

Why: after a model bundle is upgraded, tracks analysed only by the earlier version keep
showing its predictions (marked outdated); this button counts them and, when clicked,
shows them in the "Outdated analyses" view, from which Analyse re-analyses them (the
old analyses are kept).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QWidget

from tagger_core.db import Library
from tagger_core.db.analysis_versions import outdated_counts, outdated_track_ids
from tagger_core.labels.bundles import installed_versions


def outdated_text(counts: dict[str, int], tracks: int, installed: dict[str, str]) -> str:
    """The tooltip: per bundle, how many tracks its earlier version analysed, and what to do."""
    lines = [
        f"{bundle_id}: {n:,} tracks analysed only by a version before {installed[bundle_id]}"
        for bundle_id, n in counts.items()
    ]
    lines.append(
        f"The predictions of these {tracks:,} tracks come from that version. Click to list "
        "them, then Analyse them to update (the old analyses are kept)."
    )
    return "\n".join(lines)


class OutdatedButton(QPushButton):
    """Hidden while every analysis is by the installed version of its bundle."""

    show_requested = Signal()

    def __init__(self, library: Library, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.setFlat(True)
        self.clicked.connect(self.show_requested)
        self.refresh()

    def refresh(self) -> None:
        installed = installed_versions()
        with self.library.session() as s:
            counts = outdated_counts(s, installed)
            tracks = len(outdated_track_ids(s, installed)) if counts else 0
        self.setText(f"{tracks:,} track{'' if tracks == 1 else 's'} with outdated analyses")
        self.setToolTip(outdated_text(counts, tracks, installed))
        self.setVisible(bool(counts))
