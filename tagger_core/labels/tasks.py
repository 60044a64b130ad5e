"""The tasks a bundle's manifest can state that the app reviews and writes into files.

Why one list: review decisions, exports and the library table all key on the task; a
bundle's task is read from its manifest (``Bundle.task``), never inferred from the
labels its predictions happen to carry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.models import Prediction
from tagger_core.labels.bundles import bundle_tasks

TASKS: tuple[str, ...] = ("genre", "instruments")
#: The bundles the app shows for each task when several have predictions.
GENRE_BUNDLE = "genre"
INSTRUMENT_BUNDLE = "instrument-family"

# How a review reason names one label of a task ("no genre clears 0.60").
_NOUNS = {"genre": "genre", "instruments": "instrument"}


def task_noun(task: str) -> str:
    """The singular noun for one label of ``task`` (the task's own name if unknown)."""
    return _NOUNS.get(task, task)


@dataclass(frozen=True)
class TaskBundles:
    """Which model bundle's predictions fill the genre and the instrument columns."""

    genre: str = GENRE_BUNDLE
    instruments: str = INSTRUMENT_BUNDLE

    def for_task(self, task: str) -> str:
        """The bundle shown for ``task`` (one of :data:`TASKS`)."""
        return {"genre": self.genre, "instruments": self.instruments}[task]


def stored_bundle_tasks(session: Session) -> dict[str, str]:
    """The task of every bundle with stored predictions, as its manifest states.

    A bundle no longer installed has no manifest to say its task, so it is left out.
    """
    tasks = bundle_tasks()
    stored = session.scalars(select(Prediction.bundle_id).distinct())
    return {b: tasks[b] for b in stored if b in tasks}


def task_bundles(session: Session) -> TaskBundles:
    """The bundles whose predictions the table shows, by the task their manifest states.

    The default bundles win when several qualify for a task; the review queue,
    the Flagged counts and the calibration list all use the same choice.
    """
    tasks = stored_bundle_tasks(session)

    def pick(task: str, default: str) -> str:
        ids = sorted(b for b, t in tasks.items() if t == task)
        return default if default in ids or not ids else ids[0]

    return TaskBundles(pick("genre", GENRE_BUNDLE), pick("instruments", INSTRUMENT_BUNDLE))
