"""Map raw model tags to the app's labels (genres, instrument families).

The mapping lives in a user-editable TOML file
(``resources/taxonomies/default.toml``); this module reads it and turns a
bundle's raw tag *logits* into label *logits* with a pure function, because the
calibration layer (temperature scaling etc.) works on label logits. Raw tag
outputs are never replaced: they are stored as they come and the label scores
can be recomputed from them whenever the taxonomy changes.

The rule (``rule = "max"``, the default): a label's logit is the largest logit
among its tags. Why:

* the tags grouped under one label are near-synonyms or sub-genres ("rock",
  "classic rock", "hard rock") whose outputs are strongly correlated; noisy-OR
  assumes independent evidence and would turn three 0.5 synonyms into 0.875,
  so its confidence grows merely with how many synonyms a user lists;
* ``sigmoid(max logit) = max probability`` exactly, so the rule has a natural
  logit form, is monotone in every tag, and never claims more than the
  strongest single piece of evidence; per-label calibration then corrects the
  scale;
* adding a redundant synonym to the file cannot raise a score above its best
  tag.

``rule = "noisy_or"`` is available for taxonomies whose tags are genuinely
independent evidence; its logit form is ``log(1 - Π(1-pᵢ)) - log Π(1-pᵢ)``,
computed stably from the tag logits.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from tagger_core.errors import ConfigError
from tagger_core.resources import resource_path

RULES = ("max", "noisy_or")
GENRE_LABELS: tuple[str, ...] = (
    "Rock", "Pop", "Electronic", "Dance", "Jazz", "Metal", "Folk", "Punk", "Blues",
    "Hip-Hop", "Country", "Soul & R&B", "Funk", "Ambient", "Classical",
)  # fmt: skip
INSTRUMENT_FAMILIES: tuple[str, ...] = (
    "bass", "brass", "flute", "guitar", "keyboard", "mallet", "organ", "reed", "string",
    "synth_lead", "vocal",
)  # fmt: skip


def default_taxonomy_path() -> Path:
    """The taxonomy in use: ``$MUSIC_TAGGER_TAXONOMY`` or the shipped default."""
    override = os.environ.get("MUSIC_TAGGER_TAXONOMY")
    return Path(override) if override else resource_path("taxonomies", "default.toml")


# ---------------------------------------------------------------- the rules
def max_rule(raw_logits: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Label logits ``[..., L]`` = max of member tag logits (``membership`` ``[L, R]`` bool)."""
    expanded = np.broadcast_to(
        raw_logits[..., None, :], (*raw_logits.shape[:-1], *membership.shape)
    )
    return np.where(membership, expanded, -np.inf).max(axis=-1).astype(raw_logits.dtype)


def noisy_or_rule(raw_logits: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Label logits from noisy-OR of member tag probabilities, in logit form.

    ``log P(no tag) = Σ log(1 - pᵢ) = -Σ softplus(lᵢ) = s``;
    ``logit = log(1 - eˢ) - s``, with ``log(1 - eˢ)`` as ``log(-expm1(s))``.
    """
    dtype = raw_logits.dtype
    neg_log = np.logaddexp(np.zeros((), dtype), raw_logits)  # softplus = -log(1 - p)
    s = -(neg_log @ membership.astype(dtype).T)
    s = np.minimum(s, np.asarray(-1e-30 if dtype == np.float64 else -1e-12, dtype))
    return np.log(-np.expm1(s)) - s


_RULE_FUNCS = {"max": max_rule, "noisy_or": noisy_or_rule}


def label_logits(raw_logits: ArrayLike, membership: ArrayLike, rule: str = "max") -> np.ndarray:
    """Apply ``rule`` to raw logits ``[..., R]``; returns label logits ``[..., L]``.

    NumPy only (any array-like in, float ndarray out), so calibration and export read
    label logits without importing torch.
    """
    if rule not in _RULE_FUNCS:
        raise ConfigError(f"unknown taxonomy rule {rule!r} (choose from {RULES})")
    x = np.asarray(raw_logits)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    mask = np.asarray(membership, dtype=bool)
    if not bool(mask.any(axis=1).all()):
        raise ValueError("every label needs at least one raw tag")
    return _RULE_FUNCS[rule](x, mask)


# ------------------------------------------------------------ the file model
@dataclass(frozen=True)
class TaskTaxonomy:
    """One task's labels (in display order), their tags, and the rule."""

    task: str
    labels: tuple[str, ...]
    tags: dict[str, tuple[str, ...]]
    rule: str = "max"

    def bind(self, raw_labels: list[str] | tuple[str, ...]) -> BoundTaxonomy:
        """Resolve tag names against a concrete raw-label list (e.g. a bundle's)."""
        lowered = [name.lower() for name in raw_labels]
        rows, covered, uncovered = [], [], []
        for label in self.labels:
            wanted = {tag.lower() for tag in self.tags[label]}
            row = [name in wanted for name in lowered]
            if any(row):
                rows.append(row)
                covered.append(label)
            else:
                uncovered.append(label)
        matrix = np.array(rows, dtype=bool).reshape(len(rows), len(lowered))
        return BoundTaxonomy(
            task=self.task,
            labels=tuple(covered),
            raw_labels=tuple(raw_labels),
            membership=matrix,
            rule=self.rule,
            uncovered=tuple(uncovered),
        )


@dataclass(frozen=True)
class BoundTaxonomy:
    """A task taxonomy resolved against one raw-label list.

    ``labels`` are the labels with at least one tag among ``raw_labels``;
    ``uncovered`` the task's other labels; ``membership[l, r]`` says whether raw
    tag ``r`` is evidence for label ``l``.
    """

    task: str
    labels: tuple[str, ...]
    raw_labels: tuple[str, ...]
    membership: np.ndarray
    rule: str
    uncovered: tuple[str, ...] = field(default=())

    def label_logits(self, raw_logits: ArrayLike) -> np.ndarray:
        """Raw tag logits ``[..., len(raw_labels)]`` → label logits ``[..., len(labels)]``."""
        raw = np.asarray(raw_logits)
        if raw.shape[-1] != len(self.raw_labels):
            raise ValueError(f"expected {len(self.raw_labels)} raw logits, got {raw.shape[-1]}")
        if not self.labels:
            return np.zeros((*raw.shape[:-1], 0))
        return label_logits(raw, self.membership, self.rule)

    def tags_of(self, label: str) -> list[str]:
        """The raw tags that feed ``label``."""
        row = self.membership[self.labels.index(label)]
        return [name for name, used in zip(self.raw_labels, row, strict=True) if used]


def _parse_task(task: str, table: dict, source: Path) -> TaskTaxonomy:
    rule = table.get("rule", "max")
    if rule not in RULES:
        raise ConfigError(f"{source}: [{task}] rule must be one of {RULES}, not {rule!r}")
    labels_table = table.get("labels")
    if not isinstance(labels_table, dict) or not labels_table:
        raise ConfigError(f"{source}: [{task}.labels] must map each label to a list of tags")
    tags: dict[str, tuple[str, ...]] = {}
    for label, names in labels_table.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{source}: label {label!r} must list its tags as strings")
        tags[label] = tuple(names)
    return TaskTaxonomy(task=task, labels=tuple(labels_table), tags=tags, rule=rule)


def load_taxonomy(path: str | Path | None = None) -> dict[str, TaskTaxonomy]:
    """Read a taxonomy TOML file; returns ``{task: TaskTaxonomy}``."""
    source = Path(path) if path is not None else default_taxonomy_path()
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"taxonomy file not found: {source}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: not valid TOML ({err})") from None
    tasks = {name: _parse_task(name, table, source) for name, table in data.items()
             if isinstance(table, dict)}  # fmt: skip
    if not tasks:
        raise ConfigError(f"{source}: no task tables (expected [genre] / [instruments])")
    return tasks


def task_taxonomy(task: str, path: str | Path | None = None) -> TaskTaxonomy:
    """One task of a taxonomy file (``ConfigError`` if the file lacks it)."""
    tasks = load_taxonomy(path)
    if task not in tasks:
        raise ConfigError(f"taxonomy has no [{task}] table (has: {', '.join(sorted(tasks))})")
    return tasks[task]
