"""What the analysis core offers here (models, devices), asked of a child process.

Why a child: listing bundles and devices imports torch, which holds the GIL
for about a second; the GUI process never imports it, so the UI thread keeps
ticking. The answer is cached for the window's lifetime.

``python -m app.core_info`` prints ``{"bundles": [...], "devices": [...]}`` as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QProcess

from app.child_programs import child_command

#: Device choices the core accepts (``tagger_core.listening.device.pick_device``),
#: whether or not present.
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def describe() -> dict[str, Any]:
    """The bundles found in the bundle roots and the devices usable here, best first."""
    from tagger_core.labels.bundles import list_bundles
    from tagger_core.listening.device import available_devices

    return {
        "bundles": [
            {"id": b.id, "version": b.version, "task": b.task, "description": b.description}
            for b in list_bundles()
        ],
        "devices": available_devices(),
    }


class CoreInfo(QObject):
    """Asks ``describe()`` of a child once; ``request(callback)`` answers from the cache after."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.info: dict[str, Any] | None = None
        self.error: str | None = None
        self._waiting: list[Callable[[dict[str, Any] | None], None]] = []
        self._process: QProcess | None = None

    def request(self, callback: Callable[[dict[str, Any] | None], None]) -> None:
        """Call ``callback(info)`` (None when the child failed: see ``error``)."""
        if self.info is not None or self.error is not None:
            callback(self.info)
            return
        self._waiting.append(callback)
        if self._process is None:
            process = QProcess(self)
            process.finished.connect(lambda code, _s: self._finished(process, code))
            process.errorOccurred.connect(lambda error: self._failed(process, error))
            self._process = process
            process.start(*child_command("app.core_info"))

    def _finished(self, process: QProcess, code: int) -> None:
        out = bytes(process.readAllStandardOutput().data()).decode("utf-8", "replace")
        try:
            self.info = json.loads(out) if code == 0 else None
        except json.JSONDecodeError:
            self.info = None
        if self.info is None:
            err = bytes(process.readAllStandardError().data()).decode("utf-8", "replace")
            self.error = (err.strip().splitlines() or [f"exit status {code}"])[-1]
        self._answer()

    def _failed(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.error = process.errorString()
            self._answer()

    def stop(self) -> None:
        """End a pending child (the window is closing); nobody is answered."""
        process, self._process = self._process, None
        self._waiting = []
        if process is not None:
            process.blockSignals(True)
            process.kill()
            process.waitForFinished(3000)

    def _answer(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._process = None
        for callback in waiting:
            callback(self.info)


def main(_argv: list[str] | None = None) -> int:
    print(json.dumps(describe()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
