"""Benchmark the analysis engine; prints one JSON object.

What it measures, on a corpus of real-ish tracks in mixed formats (30+ min):

* ``ours``: ``tagger_core.listening.engine.analyze`` with the shipped genre and
  instrument ensembles and default settings: × realtime, tracks/min, and the
  time split into decode / frontend / model (worker times overlap).
* ``ours_all_patches``: the same with no patch limit (every patch of every
  track) — the like-for-like comparison with the original pipeline, and the
  reference for ``sampling_effect``: how far the default, evenly sampled
  analysis of long tracks moves the stored file-level probabilities and the
  label decisions.
* ``ours_process_pool`` (``--pools thread,process``): decode workers as
  processes instead of threads.
* ``baseline``: the same files through the original musicnn 0.1.0 pipeline
  (``librosa.load`` + librosa mel + its TensorFlow models, the four models one
  after another) in a separate virtualenv (``--prepare-baseline`` builds
  ``bench/.venv-tf``; ``--tf-python`` uses another). When that is impossible
  the JSON says ``"baseline": {"unavailable": "why"}``.

Corpus: ``--source DIR`` takes real recordings (for example Debian's
game-music packages unpacked with ``apt-get download fb-music-high asc-music
singularity-music hyperrogue-music`` and ``dpkg-deb -x``), tracks over 60 s,
some re-encoded to FLAC/WAV/MP3 to mix formats; without it, tracks are
synthesised (``tagger_core.library.demo.synthesise``).

    .venv/bin/python bench/analyze.py --source /tmp/realmusic/x --minutes 30
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tagger_core.db import open_library  # noqa: E402
from tagger_core.db.analysis_store import load_outputs  # noqa: E402
from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.listening.engine import DEFAULT_MAX_PATCHES, analyze  # noqa: E402

HERE = Path(__file__).resolve().parent
AUDIO_EXTS = (".ogg", ".mp3", ".flac", ".wav")
MODELS = "MSD_musicnn,MSD_vgg,MTT_musicnn,MTT_vgg"
TF_VENV = HERE / ".venv-tf"


def _duration(path: Path) -> float:
    import mutagen

    try:
        info = mutagen.File(path).info  # type: ignore[union-attr]
        return float(info.length)
    except Exception:  # noqa: BLE001 - anything unreadable is skipped
        return 0.0


def build_corpus(source: Path | None, minutes: float, out: Path) -> list[Path]:
    """Files totalling at least ``minutes`` of audio in ``out`` (made once, then reused)."""
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(p for p in out.iterdir() if p.suffix in AUDIO_EXTS)
    if existing and sum(_duration(p) for p in existing) >= minutes * 60:
        return existing
    for p in existing:
        p.unlink()
    made: list[Path] = []
    total = 0.0
    if source is not None:
        candidates = sorted(
            p for p in source.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file()
        )
        for i, src in enumerate(c for c in candidates if _duration(c) > 60):
            if total >= minutes * 60:
                break
            kind = i % 4
            if kind in (1, 2) and src.suffix.lower() != ".mp3":
                data, rate = sf.read(src, dtype="float32")
                ext, fmt = (".flac", "FLAC") if kind == 1 else (".wav", "WAV")
                dst = out / f"{i:03d}_{src.stem}{ext}"
                sf.write(dst, data, rate, format=fmt, subtype="PCM_16")
            else:
                dst = out / f"{i:03d}_{src.name}"
                shutil.copyfile(src, dst)
            made.append(dst)
            total += _duration(dst)
    else:
        from tagger_core.library.demo import synthesise, write_audio

        styles = ["rock", "electronic", "piano", "strings", "jazz", "ambient"]
        exts = [".flac", ".ogg", ".mp3", ".wav"]
        i = 0
        while total < minutes * 60:
            dst = out / f"{i:03d}_{styles[i % 6]}{exts[i % 4]}"
            write_audio(dst, synthesise(styles[i % 6], 180.0 + 20 * (i % 5), seed=i))
            made.append(dst)
            total += _duration(dst)
            i += 1
    if total < minutes * 60:
        raise SystemExit(f"only {total / 60:.1f} min of audio found; need {minutes}")
    return made


def run_ours(corpus: Path, work: Path, name: str, **options) -> tuple[dict, Path]:
    """Scan ``corpus`` into a fresh database and analyse it; return the report dict."""
    db = work / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    library = open_library(db)
    scan(library, [corpus])
    cpu0 = time.process_time()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = analyze(library, **options)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = report.to_dict()
    children = (kids1.ru_utime - kids0.ru_utime) + (kids1.ru_stime - kids0.ru_stime)
    data["cpu_s"] = round(time.process_time() - cpu0 + children, 2)  # with pool processes
    data["tracks_per_min"] = round(report.tracks_done / report.seconds * 60, 1)
    for key in ("seconds", "decode_s", "frontend_s", "model_s", "load_s", "audio_seconds"):
        data[key] = round(data[key], 2)
    data["realtime_factor_excluding_load"] = round(
        report.audio_seconds / max(1e-9, report.seconds - report.load_s), 1
    )
    # The machine is shared: wall time depends on everyone else's load. CPU time
    # (all threads of this process) says what two dedicated cores would give.
    data["realtime_per_2_cores_from_cpu_time"] = round(2 * report.audio_seconds / data["cpu_s"], 1)
    library.close()
    return data, db


def _probabilities(db: Path, bundle_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track ids, raw-tag and label probabilities (members averaged) stored in ``db``."""
    library = open_library(db)
    with library.session() as session:
        outputs = load_outputs(session, bundle_id)
    library.close()
    bundle = load_bundle(bundle_id)
    raw = 1 / (1 + np.exp(-outputs.logits.astype(np.float64)))  # [N, members, tags]
    labels = np.asarray(bundle.taxonomy.label_logits(outputs.logits.astype(np.float32)))
    label_p = 1 / (1 + np.exp(-labels.astype(np.float64)))
    return outputs.track_ids, raw.mean(1), label_p.mean(1)


def sampling_effect(sampled_db: Path, full_db: Path, long_ids: set[int]) -> dict:
    """How the default patch limit changes stored outputs, on the tracks it sampled."""
    out: dict = {"tracks_compared": len(long_ids)}
    if not long_ids:
        return out
    for bundle_id in ("genre", "instruments"):
        ids_a, raw_a, lab_a = _probabilities(sampled_db, bundle_id)
        ids_b, raw_b, lab_b = _probabilities(full_db, bundle_id)
        common = sorted(long_ids & set(ids_a.tolist()) & set(ids_b.tolist()))
        ia = [int(np.flatnonzero(ids_a == t)[0]) for t in common]
        ib = [int(np.flatnonzero(ids_b == t)[0]) for t in common]
        ra, rb, la, lb = raw_a[ia], raw_b[ib], lab_a[ia], lab_b[ib]
        top5 = [
            len(set(np.argsort(-x)[:5]) & set(np.argsort(-y)[:5])) / 5
            for x, y in zip(ra, rb, strict=True)
        ]
        out[bundle_id] = {
            "raw_tag_mean_abs_diff": round(float(np.abs(ra - rb).mean()), 4),
            "raw_tag_p95_abs_diff": round(float(np.quantile(np.abs(ra - rb), 0.95)), 4),
            "raw_tag_max_abs_diff": round(float(np.abs(ra - rb).max()), 4),
            "raw_top5_overlap": round(float(np.mean(top5)), 3),
            "label_mean_abs_diff": round(float(np.abs(la - lb).mean()), 4),
            "label_max_abs_diff": round(float(np.abs(la - lb).max()), 4),
            "label_top1_agreement": round(float(np.mean(la.argmax(1) == lb.argmax(1))), 3),
            "label_decision_agreement_at_0.5": round(float(np.mean((la > 0.5) == (lb > 0.5))), 4),
        }
    return out


def prepare_baseline() -> str | None:
    """Build ``bench/.venv-tf`` (tensorflow-cpu, tf_keras, librosa, musicnn 0.1.0)."""
    python = TF_VENV / "bin" / "python"
    if python.exists():
        return None
    steps = [
        [sys.executable, "-m", "venv", str(TF_VENV)],
        [str(python), "-m", "pip", "install", "-q", "tensorflow-cpu", "tf_keras", "librosa"],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "musicnn==0.1.0"],
    ]
    for cmd in steps:
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
            return f"could not build {TF_VENV}: {' '.join(cmd[2:5])}: {tail[0]}"
    return None


def run_baseline(tf_python: Path, files: list[Path], musicnn_path: str | None) -> dict:
    """The original pipeline's timings, or ``{"unavailable": why}``."""
    if not tf_python.exists():
        return {"unavailable": f"no TensorFlow virtualenv at {tf_python} (use --prepare-baseline)"}
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    if musicnn_path:
        env["PYTHONPATH"] = musicnn_path
    cmd = [str(tf_python), str(HERE / "musicnn_original.py"), MODELS, *map(str, files)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no output"]
        return {"unavailable": f"original pipeline failed: {lines[-1][:300]}"}
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["wall_s_including_startup"] = round(wall, 2)
    data["cpu_s_including_startup"] = round(cpu, 2)
    data["realtime_factor"] = round(data["audio_s"] / data["total_s"], 2)
    data["realtime_per_2_cores_from_cpu_time"] = round(2 * data["audio_s"] / cpu, 1)
    data["note"] = (
        "musicnn-architecture graphs rebuilt under tf_keras give wrong outputs (inf in the "
        "frontend, see NOTES.md); their timing is still the original pipeline's cost"
    )
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder of real recordings")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--pools", default="thread", help="thread[,process]")
    parser.add_argument("--max-patches", type=int, default=DEFAULT_MAX_PATCHES)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--no-mixed-precision", action="store_true", help="float32 members only (CUDA)"
    )
    parser.add_argument("--skip-full", action="store_true", help="no all-patches run")
    parser.add_argument("--prepare-baseline", action="store_true")
    parser.add_argument("--tf-python", type=Path, default=TF_VENV / "bin" / "python")
    parser.add_argument("--musicnn-path", help="PYTHONPATH holding an unpacked musicnn 0.1.0")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    corpus_dir = args.work / ("corpus-real" if args.source else "corpus-synth")
    files = build_corpus(args.source, args.minutes, corpus_dir)
    formats: dict[str, int] = {}
    for f in files:
        formats[f.suffix] = formats.get(f.suffix, 0) + 1
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "corpus": {
            "files": len(files),
            "minutes": round(sum(_duration(f) for f in files) / 60, 1),
            "formats": formats,
            "source": str(args.source) if args.source else "synthesised",
        },
        "max_patches": args.max_patches,
    }
    common = {
        "workers": args.workers,
        "threads": args.threads,
        "device": args.device,
        "mixed_precision": not args.no_mixed_precision,
    }
    result["ours"], sampled_db = run_ours(
        corpus_dir, args.work, "ours", max_patches=args.max_patches, **common
    )
    if "process" in args.pools.split(","):
        result["ours_process_pool"], _ = run_ours(
            corpus_dir, args.work, "ours_process", pool="process", **common
        )
    if not args.skip_full:
        result["ours_all_patches"], full_db = run_ours(
            corpus_dir, args.work, "ours_full", max_patches=None, **common
        )
        library = open_library(sampled_db)
        with library.session() as session:
            from sqlalchemy import select

            from tagger_core.db.models import Analysis

            long_ids = set(
                session.scalars(
                    select(Analysis.track_id).where(
                        Analysis.bundle_id == "genre", Analysis.n_patches == args.max_patches
                    )
                )
            )
        library.close()
        result["sampling_effect"] = sampling_effect(sampled_db, full_db, long_ids)
    if args.skip_baseline:
        result["baseline"] = {"unavailable": "skipped (--skip-baseline)"}
    else:
        why = prepare_baseline() if args.prepare_baseline else None
        result["baseline"] = (
            {"unavailable": why} if why else run_baseline(args.tf_python, files, args.musicnn_path)
        )
    base = result["baseline"]
    if "total_s" in base:
        speed = result["speedup_vs_original"] = {}
        for key in ("ours", "ours_all_patches"):
            if key in result:
                speed[f"{key}_wall"] = round(base["total_s"] / result[key]["seconds"], 2)
                speed[f"{key}_cpu"] = round(
                    base["cpu_s_including_startup"] / result[key]["cpu_s"], 2
                )
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
