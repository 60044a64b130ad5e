"""File and folder choosers in a child process: the GUI process never lists a folder.

Why: SQLite's locks are POSIX advisory locks, which belong to the *process*;
closing any descriptor of the database or its ``-wal``/``-shm`` file cancels
all of them. Qt's file dialog (and the icon and MIME-type code behind it)
opens and closes the files of every folder it lists, so listing the folder
that holds the library would silently drop the GUI's locks, and the analysis
child could then delete the WAL under the GUI's connection ("database disk
image is malformed"). Here the dialog runs in a short-lived child process
whose file opens cannot touch the GUI's locks. See docs/architecture.md.

Command line (also for scripted use and tests)::

    python -m app.file_picker folder|save [--title T] [--start PATH]
        [--filter "CSV (*.csv);;JSON (*.json)"] [--parent WINID]
        [--select PATH --accept]

It prints the chosen path on stdout as the hex of its bytes (``os.fsencode``,
so the transport adds no loss; Qt itself reads file names as UTF-8), exit
status 0; 1 when cancelled (or a scripted selection found nothing); 2 on a
usage error. ``--select PATH`` preselects PATH once the dialog has
listed PATH's folder (its model's ``directoryLoaded``); with ``--accept`` it then accepts,
as if the user had pressed Open/Save (it uses Qt's own dialog, not the
platform's, since only that one reports ``directoryLoaded``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from app.child_programs import child_command

CANCELLED = 1
USAGE = 2
#: A scripted selection gives up (cancels) when the folder is not listed within this time.
SCRIPT_TIMEOUT_MS = 30000
_FOREIGN_PARENT_PLATFORMS = ("xcb", "windows", "cocoa")


def encode_path(path: str) -> str:
    """A path as hex of its file-system bytes: lossless for any name."""
    return os.fsencode(path).hex()


def decode_path(text: str) -> str:
    """The inverse of ``encode_path`` (undecodable bytes become surrogate escapes)."""
    return os.fsdecode(bytes.fromhex(text.strip()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.file_picker", description="Choose a folder or a file to save."
    )
    parser.add_argument("kind", choices=("folder", "save"))
    parser.add_argument("--title", default="")
    parser.add_argument("--start", default="", help="folder (or file, for save) shown first")
    parser.add_argument("--filter", default="", help="name filters, ';;'-separated")
    parser.add_argument("--parent", type=int, default=0, help="window id to stay on top of")
    parser.add_argument("--select", default="", help="path to preselect once listed")
    parser.add_argument("--accept", action="store_true", help="accept the --select path")
    return parser


def _make_dialog(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QFileDialog

    # A scripted selection decides the folder itself, so that listing it is a change the
    # model reports (directoryLoaded) rather than one it did before anyone listened.
    dialog = QFileDialog(None, args.title, "" if args.select else args.start)
    if args.kind == "folder":
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    else:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        if args.filter:
            dialog.setNameFilters(args.filter.split(";;"))
        if args.start and not args.select and not os.path.isdir(args.start):
            dialog.setDirectory(os.path.dirname(os.path.abspath(args.start)))
            dialog.selectFile(os.path.basename(args.start))
    if args.select:
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    return dialog


def _script(dialog, target: str, accept: bool) -> None:  # type: ignore[no-untyped-def]
    """Preselect ``target``; once its folder is listed (``directoryLoaded``), accept if asked.

    ``QFileDialog.selectFile`` leaves the name field alone while that field
    has the keyboard focus (it would overwrite typing), so a selection the
    dialog does not report is retried with the focus taken off the field.
    """
    from PySide6.QtWidgets import QApplication, QFileSystemModel

    target = os.path.abspath(target)
    folder = os.path.dirname(target)
    retry = QTimer(dialog)
    retry.setInterval(50)

    def selected() -> bool:
        chosen = dialog.selectedFiles()
        return bool(chosen) and os.path.abspath(chosen[0]) == target

    def attempt() -> None:
        if not selected():
            focus = QApplication.focusWidget()
            if focus is not None:
                focus.clearFocus()
            dialog.selectFile(target)
        if selected():
            retry.stop()
            if accept:
                dialog.accept()

    def loaded(path: str) -> None:
        if os.path.abspath(path) == folder and not retry.isActive():
            retry.start()

    def give_up() -> None:
        if dialog.isVisible():
            print(f"file_picker: could not select {target}", file=sys.stderr)
            dialog.reject()

    dialog.findChild(QFileSystemModel).directoryLoaded.connect(loaded)
    retry.timeout.connect(attempt)
    dialog.setDirectory(folder)
    dialog.selectFile(target)
    QTimer.singleShot(SCRIPT_TIMEOUT_MS, give_up)


def _stay_on_top_of(dialog, window_id: int) -> None:  # type: ignore[no-untyped-def]
    """Make the dialog transient for the main window where the platform allows it."""
    from PySide6.QtGui import QGuiApplication, QWindow

    if not window_id or QGuiApplication.platformName() not in _FOREIGN_PARENT_PLATFORMS:
        return
    dialog.winId()  # creates the native window, so windowHandle() exists
    parent = QWindow.fromWinId(window_id)
    handle = dialog.windowHandle()
    if parent is not None and handle is not None:
        handle.setTransientParent(parent)
        dialog.setWindowModality(dialog.windowModality().ApplicationModal)


def main(argv: Sequence[str] | None = None) -> int:
    """Show the dialog; print the chosen path (hex) and return 0, or return 1 on cancel."""
    args = build_parser().parse_args(argv)
    if args.accept and not args.select:
        print("file_picker: --accept needs --select PATH", file=sys.stderr)
        return USAGE
    if args.select and not os.path.isdir(os.path.dirname(os.path.abspath(args.select))):
        print(f"file_picker: no folder {os.path.dirname(args.select)}", file=sys.stderr)
        return CANCELLED
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    dialog = _make_dialog(args)
    _stay_on_top_of(dialog, args.parent)
    if args.select:
        _script(dialog, args.select, args.accept)
    if dialog.exec() != dialog.DialogCode.Accepted or not dialog.selectedFiles():
        return CANCELLED
    print(encode_path(dialog.selectedFiles()[0]), flush=True)
    del app
    return 0


class FilePicker(QObject):
    """Runs the picker child asynchronously and hands the chosen path to a callback.

    ``running_changed(bool)`` lets the window disable its actions while a
    dialog is open; ``failed(str)`` says why no dialog could be shown.
    ``script`` (tests, scripted use): a path the next dialog selects and accepts.
    """

    running_changed = Signal(bool)
    failed = Signal(str)

    def __init__(self, window_id: Callable[[], int], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window_id = window_id
        self.script: str | None = None
        self.process: QProcess | None = None

    @property
    def running(self) -> bool:
        return self.process is not None

    def choose_folder(self, title: str, start: str, on_chosen: Callable[[str], None]) -> bool:
        return self._start("folder", on_chosen, "--title", title, "--start", start)

    def choose_save_file(
        self, title: str, start: str, filters: str, on_chosen: Callable[[str], None]
    ) -> bool:
        return self._start(
            "save", on_chosen, "--title", title, "--start", start, "--filter", filters
        )

    def _start(self, kind: str, on_chosen: Callable[[str], None], *options: str) -> bool:
        """Start the child; False (and nothing shown) when one is already open."""
        if self.process is not None:
            return False
        extra = ["--parent", str(int(self.window_id()))]
        if self.script is not None:
            extra += ["--select", self.script, "--accept"]
            self.script = None
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        program, arguments = child_command("app.file_picker", kind, *options, *extra)
        process.finished.connect(lambda code, _status: self._finished(process, code, on_chosen))
        process.errorOccurred.connect(lambda error: self._error(process, error))
        self.process = process
        process.start(program, arguments)
        self.running_changed.emit(True)
        return True

    def stop(self) -> None:
        """Close an open chooser (the window is closing); its choice is dropped."""
        process, self.process = self.process, None
        if process is not None:
            process.blockSignals(True)
            process.kill()
            process.waitForFinished(3000)

    def _error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end(process)
            self.failed.emit(f"could not open the file chooser: {process.errorString()}")

    def _finished(self, process: QProcess, code: int, on_chosen: Callable[[str], None]) -> None:
        out = bytes(process.readAllStandardOutput().data()).decode("ascii", "replace").strip()
        err = bytes(process.readAllStandardError().data()).decode("utf-8", "replace").strip()
        self._end(process)
        if code == 0 and out:
            on_chosen(decode_path(out.splitlines()[-1]))
        elif code != CANCELLED:
            last = err.splitlines()[-1] if err else f"exit status {code}"
            self.failed.emit(f"the file chooser failed: {last}")

    def _end(self, process: QProcess) -> None:
        if self.process is process:
            self.process = None
            process.deleteLater()
            self.running_changed.emit(False)


if __name__ == "__main__":
    sys.exit(main())
