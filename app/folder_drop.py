"""What a drop onto the window adds: folders only.

Dropped files are refused with a message rather than adding their folder:
a library root is a folder, and silently adding e.g. ~/Downloads because one
song was dropped from it would scan far more than the user meant.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from PySide6.QtCore import QUrl


def dropped_folders(urls: Iterable[QUrl]) -> tuple[list[str], str]:
    """(local folders to add, a one-line message about what was refused or '')."""
    folders: list[str] = []
    files = others = 0
    for url in urls:
        path = url.toLocalFile() if url.isLocalFile() else ""
        if path and os.path.isdir(path):
            if path not in folders:
                folders.append(path)
        elif path and os.path.exists(path):
            files += 1
        else:
            others += 1
    parts = []
    if files:
        parts.append(
            f"{files} file{'s' if files != 1 else ''} not added: drop the folder that holds "
            "them (the library is made of folders)"
        )
    if others:
        parts.append(f"{others} item{'s' if others != 1 else ''} not a local folder")
    return folders, ("; ".join(parts) + ".") if parts else ""
