"""Small helper programs the GUI starts as child processes, also from a packaged build.

From a checkout or an installed package they run as ``python -m MODULE``; a
frozen executable cannot run ``-m``, so it is started again with a flag that
the bundle's launcher (``packaging/launchers/music_tagger.py``) hands to the
module's ``main(argv)``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: Flag given to a frozen executable → module whose ``main(argv)`` runs.
FLAGS = {"--file-picker": "app.file_picker", "--core-info": "app.core_info"}


def child_command(module: str, *arguments: str) -> tuple[str, list[str]]:
    """Program and arguments that run ``module``'s ``main`` with ``arguments``."""
    if getattr(sys, "frozen", False):
        flag = next(f for f, m in FLAGS.items() if m == module)
        return sys.executable, [flag, *arguments]
    return sys.executable, ["-m", module, *arguments]


def run_if_child(argv: Sequence[str]) -> int | None:
    """Run the helper program ``argv`` names (frozen builds); None when it names none."""
    if not argv or argv[0] not in FLAGS:
        return None
    return int(importlib.import_module(FLAGS[argv[0]]).main(list(argv[1:])))
