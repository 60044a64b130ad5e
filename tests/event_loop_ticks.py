"""How long the UI thread stays busy: gaps between ticks of a 5 ms Qt timer."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QTimer


class TickGaps:
    """Context manager recording the milliseconds between event-loop ticks."""

    def __init__(self, interval_ms: int = 5) -> None:
        self.gaps: list[int] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.gaps.append(now - self.last)
        self.last = now

    def __enter__(self) -> TickGaps:
        self.clock.start()
        self.last = self.clock.elapsed()
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.stop()

    @property
    def p99(self) -> int:
        ordered = sorted(self.gaps) or [0]
        return ordered[int(0.99 * (len(ordered) - 1))]
