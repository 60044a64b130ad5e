"""Tiny generated audio datasets in the folder, CSV, FMA and NSynth layouts."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000
CLASSES = ("Low", "High", "Noise")


def clip(kind: str, seconds: float, seed: int) -> np.ndarray:
    """A class-typical sound: low tone, high tone or noise, with random pitch and level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    if kind == "Low":
        x = np.sin(2 * np.pi * rng.uniform(100, 300) * t)
    elif kind == "High":
        x = np.sin(2 * np.pi * rng.uniform(2500, 4000) * t)
    else:
        x = rng.normal(size=t.size)
    x = x * rng.uniform(0.1, 0.4) + 0.01 * rng.normal(size=t.size)
    return x.astype(np.float32)


def write_clip(path: Path, kind: str, seconds: float, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, clip(kind, seconds, seed), SR)


def folder_dataset(root: Path, per_class: int = 8, seconds: float = 1.0, splits: bool = False):
    for c, kind in enumerate(CLASSES):
        for i in range(per_class):
            split = ("train", "val", "test")[i % 3] if splits else None
            base = root / split if split else root
            write_clip(base / kind / f"{i}.wav", kind, seconds, seed=100 * c + i)
    return root


def csv_dataset(root: Path, n: int = 12, seconds: float = 1.0) -> Path:
    rows = []
    for i in range(n):
        kind = CLASSES[i % 3]
        labels = [kind] + (["Noise"] if i % 4 == 0 and kind != "Noise" else [])
        write_clip(root / "audio" / f"{i}.wav", kind, seconds, seed=i)
        rows.append({"path": f"audio/{i}.wav", "labels": ";".join(labels),
                     "split": ("train", "val", "test")[(i // 3) % 3]})  # fmt: skip
    path = root / "labels.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "labels", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def fma_dataset(root: Path, n: int = 12, seconds: float = 1.0) -> Path:
    """FMA's tracks.csv (three header rows) and fma_small/xxx/xxxxxx.mp3 files holding
    FLAC data under FMA's names (the decoder reads files by content)."""
    meta = root / "fma_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    header = [
        ["", "album", "set", "set", "track", "track"],
        ["", "title", "split", "subset", "genre_top", "title"],
        ["track_id", "", "", "", "", ""],
    ]
    rows = []
    for i in range(n):
        tid = 2 + 137 * i
        kind = CLASSES[i % 3]
        subset = "medium" if i == n - 1 else "small"
        split = ("training", "validation", "test")[(i // 3) % 3]
        rows.append([str(tid), "An album", split, subset, kind, f"Song, {i}"])
        name = f"{tid:06d}"
        path = root / "fma_small" / name[:3] / f"{name}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, clip(kind, seconds, i), SR, format="FLAC")
    rows.append([str(99999), "x", "training", "small", "", "no genre"])  # skipped
    with (meta / "tracks.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(header + rows)
    return root


def nsynth_dataset(root: Path, per_split: int = 6, seconds: float = 1.0) -> Path:
    families = {"Low": "bass", "High": "flute", "Noise": "synth_lead"}
    for split in ("train", "valid", "test"):
        folder = root / f"nsynth-{split}"
        examples = {}
        for i in range(per_split):
            kind = CLASSES[i % 3]
            note = f"{families[kind]}_synthetic_{i:03d}-060-100"
            write_clip(folder / "audio" / f"{note}.wav", kind, seconds, seed=hash(note) % 1000)
            examples[note] = {"note_str": note, "instrument_family_str": families[kind],
                              "instrument_family": i % 3, "pitch": 60}  # fmt: skip
        (folder / "examples.json").write_text(json.dumps(examples))
    return root
