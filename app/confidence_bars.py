"""Horizontal bars of calibrated confidences with the ensemble spread as whiskers.

The bar is the calibrated confidence; the whisker spans ± one standard
deviation across ensemble members, so a long whisker says "the members
disagree" at a glance. Review mode marks accepted/rejected labels and the
label under the keyboard cursor.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

ROW = 20
LABEL_W = 130
VALUE_W = 46

_BAR = QColor("#3b82c4")
_BAR_LOW = QColor("#9db9d9")
_RAW = QColor("#a3a3a3")
_RAW_LOW = QColor("#d0d0d0")
RAW_TOOLTIP = (
    "Uncalibrated scores: this model has no calibration yet, so a bar is not the "
    "probability that the label applies. Review the flagged tracks to calibrate it."
)
_ACCEPT = QColor("#1a7f37")
_REJECT = QColor("#b42318")


class ConfidenceBars(QWidget):
    """Paints ``label: confidence ± spread`` rows, highest confidence first."""

    def __init__(self, parent: QWidget | None = None, threshold: float = 0.5) -> None:
        super().__init__(parent)
        self.threshold = threshold
        self.items: list[tuple[str, float, float]] = []
        self.marks: dict[str, str] = {}
        self.cursor = -1
        self.empty_text = "Not analysed yet."
        self.calibrated = True
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(
        self, confidences: dict[str, float] | None, spread: dict[str, float] | None = None
    ) -> None:
        spread = spread or {}
        self.items = sorted(
            (
                (str(k), float(v), float(spread.get(k) or 0.0))
                for k, v in (confidences or {}).items()
            ),
            key=lambda t: -t[1],
        )
        self.cursor = min(self.cursor, len(self.items) - 1)
        self.updateGeometry()
        self.update()

    def set_calibrated(self, calibrated: bool) -> None:
        """Grey bars and a tooltip that says so when the scores are not calibrated."""
        self.calibrated = calibrated
        self.setToolTip("" if calibrated else RAW_TOOLTIP)
        self.update()

    def set_marks(self, marks: dict[str, str]) -> None:
        """``{label: "accept" | "reject"}`` drawn as ✓ / ✗ beside the label."""
        self.marks = dict(marks)
        self.update()

    def set_cursor(self, row: int) -> None:
        self.cursor = row if self.items else -1
        self.update()

    def label_at_cursor(self) -> str | None:
        return self.items[self.cursor][0] if 0 <= self.cursor < len(self.items) else None

    def sizeHint(self) -> QSize:
        return QSize(360, max(1, len(self.items)) * ROW + 6)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, max(1, len(self.items)) * ROW + 6)

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text_colour = pal.color(pal.ColorRole.WindowText)
        if not self.items:
            p.setPen(pal.color(pal.ColorRole.PlaceholderText))
            p.drawText(
                self.rect(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, self.empty_text
            )
            return
        width = max(40, self.width() - LABEL_W - VALUE_W - 8)
        for row, (label, value, spread) in enumerate(self.items):
            y = 3 + row * ROW
            if row == self.cursor:
                p.fillRect(0, y, self.width(), ROW, pal.color(pal.ColorRole.Highlight).lighter(170))
            mark = self.marks.get(label)
            font = QFont(self.font())
            font.setBold(mark == "accept")
            font.setStrikeOut(mark == "reject")
            p.setFont(font)
            p.setPen(_ACCEPT if mark == "accept" else _REJECT if mark == "reject" else text_colour)
            prefix = "✓ " if mark == "accept" else "✗ " if mark == "reject" else ""
            p.drawText(
                QRectF(4, y, LABEL_W - 8, ROW),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                prefix + label,
            )
            p.setFont(self.font())
            x0 = LABEL_W
            p.fillRect(QRectF(x0, y + 4, width, ROW - 8), pal.color(pal.ColorRole.AlternateBase))
            high, low = (_BAR, _BAR_LOW) if self.calibrated else (_RAW, _RAW_LOW)
            colour = high if value >= self.threshold else low
            p.fillRect(QRectF(x0, y + 4, width * min(max(value, 0.0), 1.0), ROW - 8), colour)
            if spread > 0:
                lo = min(max(value - spread, 0.0), 1.0)
                hi = min(max(value + spread, 0.0), 1.0)
                p.setPen(QPen(text_colour, 1.2))
                mid = y + ROW / 2
                p.drawLine(int(x0 + width * lo), int(mid), int(x0 + width * hi), int(mid))
                for edge in (lo, hi):
                    p.drawLine(
                        int(x0 + width * edge), int(mid - 4), int(x0 + width * edge), int(mid + 4)
                    )
            p.setPen(QPen(pal.color(pal.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
            tx = x0 + width * self.threshold
            p.drawLine(int(tx), y + 2, int(tx), y + ROW - 2)
            p.setPen(text_colour)
            p.drawText(
                QRectF(x0 + width + 6, y, VALUE_W, ROW),
                Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                f"{value:.2f}",
            )
