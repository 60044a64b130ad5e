"""Helpers shared by the CLI modules: opening the library, progress, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tagger_core.db import Library, open_library


def library_from_args(args: Any) -> Library:
    """Open the database named by ``--db`` (or the default location)."""
    return open_library(getattr(args, "db", None))


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """Yield ``update(done, total, text)``: a rich bar on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=None)

            def update(done: int, total: int, text: str = "") -> None:
                bar.update(task, completed=done, total=total or None)

            yield update
        return
    last = [-1]

    def update_plain(done: int, total: int, text: str = "") -> None:
        step = max(1, total // 10) if total else 1000
        if total and (done == total or done // step != last[0]):
            last[0] = done // step
            print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)

    yield update_plain
