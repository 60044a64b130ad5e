"""The tasks a bundle's manifest can state that the app reviews and writes into files.

Why one list: review decisions, exports and the library table all key on the task; a
bundle's task is read from its manifest (``Bundle.task``), never inferred from the
labels its predictions happen to carry.
"""

from __future__ import annotations

TASKS: tuple[str, ...] = ("genre", "instruments")

# How a review reason names one label of a task ("no genre clears 0.60").
_NOUNS = {"genre": "genre", "instruments": "instrument"}


def task_noun(task: str) -> str:
    """The singular noun for one label of ``task`` (the task's own name if unknown)."""
    return _NOUNS.get(task, task)
