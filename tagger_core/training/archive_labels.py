"""Training arrays from the library: stored embeddings (X) and trusted labels (Y).

Why this thin layer: the science (``heads``, ``splits``, ``evaluation``) works
on arrays; this module alone knows where they come from in the database.

Labels of a track for a task, per class, positive / negative / unknown:

1. existing tags (``--from-tags``): for the genre task the track's genre
   strings, for the instruments task its performer credits and INSTRUMENTS
   field (:mod:`tagger_core.labels.instrument_names`), are mapped onto the
   classes; a track with at least one matching string is trusted as complete
   (its matched classes positive, all others negative); a track whose strings
   match nothing gives no labels;
2. review decisions override them: accepted/added labels are positive,
   rejected ones negative, and a track marked *reviewed* has every other
   class negative (what :mod:`tagger_core.trust.review` promises).

Only tracks whose every class is known are used (partial rows are counted
and reported, not guessed). Classes come either from a taxonomy file (the
archive's own vocabulary: each label's tag list names the genre strings that
mean it) or, with ``--from-tags``, the app's labels via
:mod:`tagger_core.labels.genre_normalizer`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tagger_core.db.analysis_store import load_outputs
from tagger_core.db.models import Track
from tagger_core.errors import TaggerError
from tagger_core.labels.genre_normalizer import GENRE_LABELS, genre_key, load_genre_normalizer
from tagger_core.labels.instrument_names import credited_instruments, load_instrument_normalizer
from tagger_core.labels.taxonomy import INSTRUMENT_FAMILIES, task_taxonomy
from tagger_core.library.file_tags import split_genres
from tagger_core.listening.head_runtime import flatten_embeddings
from tagger_core.training.head_bundle import usable_columns
from tagger_core.trust.review import reviews

MIN_EXAMPLES = 10
"""Positives and negatives each class needs before training is attempted."""

TagMatcher = Callable[[list[str]], set[str]]


@dataclass(frozen=True)
class Vocabulary:
    """The classes to train and how existing genre strings map onto them."""

    task: str
    classes: tuple[str, ...]
    match_tags: TagMatcher | None
    #: what ``match_tags`` reads: the genre strings or the credited instrument names
    tag_source: str = "genres"


def vocabulary_from_taxonomy(path: str | Path, task: str, use_tags: bool) -> Vocabulary:
    """Classes of ``task`` in a taxonomy TOML; a genre string means a class if it
    equals (by :func:`genre_key`) the class name or one of its listed tags."""
    tax = task_taxonomy(task, path)
    keys = {label: {genre_key(label)} | {genre_key(t) for t in tax.tags[label]}
            for label in tax.labels}  # fmt: skip

    def match(values: list[str]) -> set[str]:
        found = {genre_key(v) for v in split_genres(values)}
        return {label for label, k in keys.items() if k & found}

    return Vocabulary(task, tax.labels, match if use_tags else None)


def vocabulary_from_app(
    task: str, use_tags: bool, synonyms: str | Path | None = None
) -> Vocabulary:
    """The app's labels (15 genres or 11 instrument families); genre tags via genre_names."""
    if task == "genre":
        normalizer = load_genre_normalizer(synonyms)

        def match(values: list[str]) -> set[str]:
            return set(normalizer.match(values).labels)

        return Vocabulary(task, GENRE_LABELS, match if use_tags else None)
    names = load_instrument_normalizer()

    def families(values: list[str]) -> set[str]:
        return set(names.match(values).families)

    return Vocabulary(task, INSTRUMENT_FAMILIES, families if use_tags else None, "instruments")


@dataclass
class LabelledSet:
    """X, Y and where they came from."""

    track_ids: np.ndarray
    embeddings: np.ndarray  # [N, F] float32, the used columns of the flattened embedding
    labels: np.ndarray  # [N, C] 0/1
    classes: tuple[str, ...]
    columns: np.ndarray
    base_bundle: str
    base_version: str
    summary: dict[str, int] = field(default_factory=dict)


def label_rows(
    session: Session, vocabulary: Vocabulary, track_ids: Sequence[int]
) -> tuple[np.ndarray, dict[str, int]]:
    """Label matrix for ``track_ids`` with ``-1`` where a class is unknown, and counts."""
    index = {c: i for i, c in enumerate(vocabulary.classes)}
    n, n_classes = len(track_ids), len(vocabulary.classes)
    y = np.full((n, n_classes), -1, dtype=np.int8)
    row_of = {int(t): i for i, t in enumerate(track_ids)}
    counts = {"from_tags": 0, "from_reviews": 0}
    if vocabulary.match_tags is not None and n:
        column = Track.raw_tags if vocabulary.tag_source == "instruments" else Track.genres
        for tid, stored in session.execute(select(Track.id, column)):
            i = row_of.get(int(tid))
            if i is None or not stored:
                continue
            values = (
                credited_instruments(stored)
                if vocabulary.tag_source == "instruments"
                else [str(g) for g in stored]
            )
            matched = vocabulary.match_tags(values)
            if matched:
                y[i] = 0
                for label in matched:
                    y[i, index[label]] = 1
                counts["from_tags"] += 1
    for tid, state in reviews(session, vocabulary.task, list(row_of)).items():
        i = row_of.get(int(tid))
        if i is None:
            continue
        if state.reviewed:
            y[i] = 0
        for label in state.accepted:
            if label in index:
                y[i, index[label]] = 1
        for label in state.rejected:
            if label in index:
                y[i, index[label]] = 0
        counts["from_reviews"] += 1
    return y, counts


def check_class_counts(labels: np.ndarray, classes: Sequence[str], minimum: int) -> list[str]:
    """Descriptions of the classes with fewer than ``minimum`` positives or negatives."""
    y = np.asarray(labels).astype(bool)
    pos = y.sum(axis=0)
    neg = len(y) - pos
    short = [f"{c} has {int(pos[i])} positives" for i, c in enumerate(classes) if pos[i] < minimum]
    short += [f"{c} has {int(neg[i])} negatives" for i, c in enumerate(classes) if neg[i] < minimum]
    return short


def drop_rare_classes(data: LabelledSet, minimum: int) -> tuple[LabelledSet, list[str]]:
    """``data`` without the classes that have too few positives or negatives."""
    y = data.labels.astype(bool)
    pos = y.sum(axis=0)
    keep = (pos >= minimum) & (len(y) - pos >= minimum)
    dropped = [c for c, k in zip(data.classes, keep, strict=True) if not k]
    data.labels = data.labels[:, keep]
    data.classes = tuple(c for c, k in zip(data.classes, keep, strict=True) if k)
    return data, dropped


def load_labelled_set(
    session: Session,
    base_bundle: str,
    vocabulary: Vocabulary,
    *,
    minimum: int = MIN_EXAMPLES,
    skip_rare: bool = False,
    base_version: str | None = None,
) -> LabelledSet:
    """Stored embeddings of ``base_bundle`` joined with trusted labels; refuses thin classes.

    Raises ``TaggerError`` when nothing is stored or labelled, or (unless
    ``skip_rare``) when a class has fewer than ``minimum`` positives or negatives.
    """
    outputs = load_outputs(session, base_bundle, base_version)
    if outputs.embeddings.size == 0:
        raise TaggerError(
            f"no stored embeddings of bundle {base_bundle!r}: analyse the library with it first"
        )
    flat = flatten_embeddings(outputs.embeddings)
    y, counts = label_rows(session, vocabulary, outputs.track_ids.tolist())
    complete = (y >= 0).all(axis=1)
    counts["analysed"] = int(len(y))
    counts["partial"] = int(((y >= 0).any(axis=1) & ~complete).sum())
    counts["used"] = int(complete.sum())
    if not complete.any():
        raise TaggerError(
            "no analysed track has complete labels: review some tracks or use --from-tags"
        )
    flat = flat[complete]
    columns = usable_columns(flat)
    data = LabelledSet(
        track_ids=outputs.track_ids[complete],
        embeddings=np.ascontiguousarray(flat[:, columns]),
        labels=y[complete].astype(np.float32),
        classes=vocabulary.classes,
        columns=columns,
        base_bundle=base_bundle,
        base_version=outputs.version,
        summary=counts,
    )
    if skip_rare:
        data, dropped = drop_rare_classes(data, minimum)
        data.summary["dropped_classes"] = len(dropped)
        if not data.classes:
            raise TaggerError(f"every class has fewer than {minimum} positives or negatives")
        return data
    short = check_class_counts(data.labels, data.classes, minimum)
    if short:
        raise TaggerError(
            f"too few examples to train (each class needs {minimum} positive and {minimum} "
            f"negative tracks; --skip-rare leaves such classes out): " + ", ".join(short)
        )
    return data
