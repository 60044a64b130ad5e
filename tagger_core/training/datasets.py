"""Readers for labelled audio datasets on local disk: folder per class, CSV, FMA, NSynth.

Why readers and not downloads: the app never goes online, and FMA and NSynth
are large; a user who has a copy points ``music-tagger train resnet`` (or
``experiment scaling``) at it and the reader finds files, labels and, where
the dataset defines one, its official split. Layouts:

``folder``
    ``ROOT/<class>/**/<audio>``; optionally one level of split folders first
    (``ROOT/train/<class>/…``, ``ROOT/val|valid|validation/…``, ``ROOT/test/…``).
    One label per file.
``csv``
    a CSV file with a header holding ``path`` and ``labels`` columns (labels
    separated by ``;`` or ``|``, so one file may have several) and optionally
    ``split`` (train/val/test); relative paths are relative to the CSV's folder.
``fma``
    the FMA release: ``ROOT/fma_metadata/tracks.csv`` (three header rows) and
    the audio in ``ROOT/fma_small/012/012345.mp3`` (or ``fma_medium`` …). The
    label is ``track.genre_top``; the split is ``set.split``; ``subset``
    selects small / medium / large (each includes the smaller ones).
``nsynth``
    the NSynth release: ``ROOT/nsynth-{train,valid,test}/examples.json`` with
    ``audio/<note>.wav`` beside it (or ROOT is one such folder). The label is
    ``instrument_family_str``.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger_core.errors import TaggerError

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff", ".wv"}
)
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test"}  # fmt: skip
LAYOUTS = ("auto", "folder", "csv", "fma", "nsynth")
FMA_SUBSETS = ("small", "medium", "large")


class DatasetError(TaggerError):
    """A dataset folder or file that does not match the layout it claims."""


@dataclass(frozen=True)
class AudioItem:
    """One labelled file; ``split`` is ``"train"``, ``"val"``, ``"test"`` or ``None``."""

    path: Path
    labels: tuple[str, ...]
    split: str | None = None


@dataclass
class AudioDataset:
    """Files, their labels and the class list (sorted, or the dataset's own order)."""

    items: list[AudioItem]
    classes: tuple[str, ...]
    multi_label: bool
    layout: str
    skipped: int = 0

    def label_matrix(self) -> np.ndarray:
        """Binary ``[files, classes]`` matrix (float32)."""
        index = {c: i for i, c in enumerate(self.classes)}
        y = np.zeros((len(self.items), len(self.classes)), dtype=np.float32)
        for row, item in enumerate(self.items):
            for label in item.labels:
                y[row, index[label]] = 1.0
        return y

    @property
    def has_split(self) -> bool:
        """Whether every file carries a split and train, val and test are all present."""
        splits = {item.split for item in self.items}
        return None not in splits and {"train", "val", "test"} <= splits

    def split_indices(self) -> dict[str, np.ndarray]:
        """Row indices of each split named by the dataset."""
        names = np.array([item.split or "" for item in self.items])
        return {s: np.flatnonzero(names == s) for s in ("train", "val", "test")}

    def subset(self, rows: Sequence[int]) -> AudioDataset:
        """A dataset of some rows, same classes."""
        items = [self.items[i] for i in rows]
        return AudioDataset(items, self.classes, self.multi_label, self.layout)


def _is_audio(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def _finish(items: list[AudioItem], layout: str, skipped: int = 0,
            classes: Sequence[str] | None = None) -> AudioDataset:  # fmt: skip
    if not items:
        raise DatasetError(f"no labelled audio files found for the {layout} layout")
    found = sorted({label for item in items for label in item.labels})
    order = [c for c in classes if c in found] if classes else found
    multi = any(len(item.labels) != 1 for item in items)
    return AudioDataset(items, tuple(order), multi, layout, skipped)


def read_folder(root: str | Path) -> AudioDataset:
    """``root/<class>/…`` or ``root/<split>/<class>/…`` (see the module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    split_dirs = [p for p in subdirs if p.name.lower() in SPLIT_NAMES]
    tops = [(p, SPLIT_NAMES[p.name.lower()]) for p in split_dirs] if split_dirs else [(root, None)]
    items = []
    for top, split in tops:
        for class_dir in sorted(p for p in top.iterdir() if p.is_dir()):
            for path in sorted(class_dir.rglob("*")):
                if _is_audio(path):
                    items.append(AudioItem(path, (class_dir.name,), split))
    return _finish(items, "folder")


_LABEL_SPLIT = re.compile(r"\s*[;|]\s*")


def read_csv(csv_path: str | Path) -> AudioDataset:
    """A ``path,labels[,split]`` CSV file (see the module docstring)."""
    csv_path = Path(csv_path)
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise DatasetError(f"dataset CSV not found: {csv_path}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"{csv_path}: not a readable CSV file ({err})") from None
    if not rows or not {"path", "labels"} <= set(rows[0]):
        raise DatasetError(f"{csv_path}: needs a header with 'path' and 'labels' columns")
    items, skipped = [], 0
    for line, row in enumerate(rows, start=2):
        path = Path(row["path"] or "")
        path = path if path.is_absolute() else csv_path.parent / path
        labels = tuple(dict.fromkeys(x for x in _LABEL_SPLIT.split(row["labels"] or "") if x))
        split_text = (row.get("split") or "").strip().lower()
        if split_text and split_text not in SPLIT_NAMES:
            raise DatasetError(f"{csv_path}:{line}: unknown split {split_text!r} (train/val/test)")
        if not labels or not path.is_file():
            skipped += 1
            continue
        items.append(AudioItem(path, labels, SPLIT_NAMES.get(split_text)))
    return _finish(items, "csv", skipped)


def _fma_columns(header: list[list[str]]) -> list[str]:
    top, sub = header[0], header[1]
    names = []
    for i, name in enumerate(sub):
        names.append(f"{top[i]}.{name}" if i < len(top) and top[i] else name or "track_id")
    return names


def fma_audio_path(audio_dir: Path, track_id: int) -> Path:
    """Where FMA keeps a track: ``audio_dir/012/012345.mp3``."""
    name = f"{track_id:06d}"
    return audio_dir / name[:3] / f"{name}.mp3"


def read_fma(
    root: str | Path, subset: str = "small", audio_dir: str | Path | None = None
) -> AudioDataset:
    """FMA's ``tracks.csv``: top genre and official split of ``subset`` (see module docs)."""
    if subset not in FMA_SUBSETS:
        raise DatasetError(f"unknown FMA subset {subset!r} (choose {', '.join(FMA_SUBSETS)})")
    root = Path(root)
    tracks = root / "fma_metadata" / "tracks.csv"
    if not tracks.is_file():
        tracks = root / "tracks.csv"
    if not tracks.is_file():
        raise DatasetError(f"no fma_metadata/tracks.csv under {root}")
    audio = Path(audio_dir) if audio_dir else root / f"fma_{subset}"
    if not audio.is_dir():
        raise DatasetError(f"FMA audio folder not found: {audio} (use --audio-dir)")
    wanted = set(FMA_SUBSETS[: FMA_SUBSETS.index(subset) + 1])
    with tracks.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [next(reader, []) for _ in range(3)]
        columns = _fma_columns(header)
        need = ("set.split", "set.subset", "track.genre_top")
        missing = [c for c in need if c not in columns]
        if missing:
            raise DatasetError(f"{tracks}: not FMA's tracks.csv (no {', '.join(missing)} column)")
        col = {name: columns.index(name) for name in need}
        items, skipped = [], 0
        for row in reader:
            if not row or not row[0].strip().isdigit():
                continue
            if row[col["set.subset"]] not in wanted:
                continue
            genre = row[col["track.genre_top"]].strip()
            path = fma_audio_path(audio, int(row[0]))
            if not genre or not path.is_file():
                skipped += 1
                continue
            split = SPLIT_NAMES.get(row[col["set.split"]].strip().lower())
            items.append(AudioItem(path, (genre,), split))
    return _finish(items, "fma", skipped)


def read_nsynth(root: str | Path) -> AudioDataset:
    """NSynth's ``examples.json`` files (instrument family, split by folder)."""
    root = Path(root)
    folders = [root] if (root / "examples.json").is_file() else sorted(root.glob("nsynth-*"))
    folders = [f for f in folders if (f / "examples.json").is_file()]
    if not folders:
        raise DatasetError(f"no NSynth examples.json under {root}")
    items, skipped = [], 0
    for folder in folders:
        split = SPLIT_NAMES.get(folder.name.removeprefix("nsynth-").lower())
        try:
            examples = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DatasetError(f"{folder / 'examples.json'}: not valid JSON ({err})") from None
        for note, info in sorted(examples.items()):
            family = info.get("instrument_family_str") if isinstance(info, dict) else None
            path = folder / "audio" / f"{note}.wav"
            if not family or not path.is_file():
                skipped += 1
                continue
            items.append(AudioItem(path, (str(family),), split))
    return _finish(items, "nsynth", skipped)


def detect_layout(path: str | Path) -> str:
    """Guess the layout of ``path`` from the files it holds."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return "csv"
    if not path.is_dir():
        raise DatasetError(f"dataset not found: {path}")
    if (path / "fma_metadata" / "tracks.csv").is_file():
        return "fma"
    if (path / "examples.json").is_file() or any(path.glob("nsynth-*/examples.json")):
        return "nsynth"
    return "folder"


def read_dataset(
    path: str | Path, layout: str = "auto", *, fma_subset: str = "small",
    audio_dir: str | Path | None = None,
) -> AudioDataset:  # fmt: skip
    """Read a dataset in ``layout`` (``auto`` guesses it: see :func:`detect_layout`)."""
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown dataset layout {layout!r} (choose {', '.join(LAYOUTS)})")
    if layout == "auto":
        layout = detect_layout(path)
    if layout == "folder":
        return read_folder(path)
    if layout == "csv":
        return read_csv(path)
    if layout == "fma":
        return read_fma(path, fma_subset, audio_dir)
    return read_nsynth(path)
