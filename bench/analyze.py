"""Benchmark the analysis engine against the original musicnn pipeline; prints one JSON object.

Runs, on one corpus of real recordings (30+ min, mixed formats), in this order:

* ``like_for_like``: our genre + instruments ensembles with **every patch** —
  the same four networks as the original package (``MSD_musicnn``,
  ``MSD_vgg`` in ``genre``; ``MTT_musicnn``, ``MTT_vgg`` in ``instruments``),
  the same audio, each member in the form the engine runs it (float32, or
  int8 where ``fast_forms.json`` accepted it; the JSON lists the forms).
* ``baseline``: the same files through the original musicnn 0.1.0 pipeline
  (``librosa.load`` + librosa mel + its TensorFlow graphs, the four models one
  after another, as a user of that package runs them) in a separate
  virtualenv (``--prepare-baseline`` builds ``bench/.venv-tf``).
* ``defaults``: what a user gets: the default bundles (genre, instruments,
  instrument-family) and the default 32-patch limit.
* ``fast_profile_every_patch`` and ``fast_profile``: ``--profile fast`` (the
  distilled students ``genre-fast`` and ``instruments-fast`` + instrument-family),
  every patch and with the default limit. **Less work per patch by design** (a
  small student instead of the four networks; its fidelity to them is measured
  on validation files in docs/models/fast-profile.md, not here), so their
  ratios are listed apart from the like-for-like one.
* ``tag_one_track``: ``music-tagger tag`` on the corpus track closest to 4
  minutes, end to end (a fresh process), with the default and the fast profile.
* ``sampling_effect``: how far the patch limit moves stored outputs.

**Start-up is counted on both sides.** Each side runs in its own child
process; ``cpu_s`` is that process's CPU time (all threads, from
``getrusage(RUSAGE_CHILDREN)``) including the interpreter, library imports
(torch / TensorFlow, librosa) and model loading. ``cpu_s_after_imports``
leaves out interpreter and imports on both sides (it keeps model loading and,
for the original, its graph rebuilding per file, which is how that package
works). Scanning the library (tags, fingerprints) is not counted: the
original has no such step. The machine may be shared: CPU time is the main
figure, wall time is reported with the load average.

Every side says how much it analysed: seconds of audio in the files, patches
through each network and the seconds those patches cover.

    .venv/bin/python bench/analyze.py --source /tmp/realmusic/x --minutes 30 --prepare-baseline
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
from tagger_core.listening.report import PROFILES  # noqa: E402

HERE = Path(__file__).resolve().parent
AUDIO_EXTS = (".ogg", ".mp3", ".flac", ".wav")
MODELS = "MSD_musicnn,MSD_vgg,MTT_musicnn,MTT_vgg"
PATCH_S = 187 * 256 / 16000  # musicnn's 3-second input: 187 frames at hop 256, 16 kHz
LIKE_FOR_LIKE = ("genre", "instruments")  # our members that are the original's four models
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


def _child_cpu(before: resource.struct_rusage) -> float:
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def analysed_amount(db: Path) -> dict:
    """Per bundle: tracks, patches per member, seconds those patches cover, member forms."""
    from sqlalchemy import func, select

    from tagger_core.db.models import Analysis

    library = open_library(db)
    out: dict = {}
    with library.session() as session:
        rows = session.execute(
            select(
                Analysis.bundle_id,
                func.count(Analysis.id),
                func.sum(Analysis.n_patches),
                func.sum(Analysis.seconds_analysed),
            )
            .where(Analysis.status == "ok")
            .group_by(Analysis.bundle_id)
        )
        for bundle_id, tracks, patches, seconds in rows:
            row = session.scalars(
                select(Analysis).where(Analysis.bundle_id == bundle_id, Analysis.status == "ok")
            ).first()
            out[bundle_id] = {
                "tracks": tracks,
                "patches_per_member": int(patches or 0),
                "seconds_covered_by_patches": round(float(seconds or 0), 1),
                "members": dict(zip(row.members, row.member_forms or [], strict=False)),
            }
    library.close()
    return out


def run_ours(corpus: Path, work: Path, name: str, **options) -> tuple[dict, Path]:
    """Scan ``corpus`` into a fresh database here, then analyse it in a child process."""
    db = work / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    library = open_library(db)
    scan(library, [corpus])
    library.close()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(db), json.dumps(options)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu = _child_cpu(before)
    if result.returncode != 0:
        raise SystemExit(f"{name}: analysis failed: {result.stderr.strip()[-500:]}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["wall_s"] = round(wall, 2)
    data["cpu_s"] = round(cpu, 2)
    data["tracks_per_min"] = round(data["tracks_done"] / wall * 60, 1)
    data["realtime_wall"] = round(data["audio_seconds"] / wall, 1)
    # what two dedicated cores would give, from CPU time (wall time depends on the load)
    data["realtime_per_2_cores_from_cpu_time"] = round(2 * data["audio_seconds"] / cpu, 1)
    data["analysed"] = analysed_amount(db)
    return data, db


def child_analyze(db: Path, options: dict) -> int:
    """The child side of :func:`run_ours`: analyse and print the report as JSON."""
    cpu0 = time.process_time()
    library = open_library(db)
    report = analyze(library, **options)
    data = report.to_dict()
    data["cpu_s_after_imports"] = round(time.process_time() - cpu0, 2)
    for key in ("seconds", "decode_s", "frontend_s", "model_s", "load_s", "audio_seconds"):
        data[key] = round(data[key], 2)
    library.close()
    print(json.dumps(data, default=str))
    return 0


def tag_one_track(files: list[Path], profile: str = "default") -> dict:
    """``music-tagger tag`` on the file closest to 4 minutes, in a fresh process."""
    target = min(files, key=lambda f: abs(_duration(f) - 240))
    exe = Path(sys.executable).with_name("music-tagger")
    cmd = [str(exe), "tag", str(target), "--json", "--profile", profile]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    out = {
        "file": target.name,
        "audio_s": round(_duration(target), 1),
        "wall_s": round(wall, 2),
        "cpu_s": round(_child_cpu(before), 2),
        "ok": result.returncode == 0,
    }
    if result.returncode != 0:
        out["error"] = (result.stderr.strip().splitlines() or ["?"])[-1][:300]
    return out


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
    data["wall_s"] = round(wall, 2)
    data["cpu_s"] = round(cpu, 2)
    data["cpu_s_after_imports"] = round(data["cpu_s_after_imports"], 2)
    data["realtime_wall"] = round(data["audio_s"] / wall, 1)
    data["realtime_per_2_cores_from_cpu_time"] = round(2 * data["audio_s"] / cpu, 1)
    data["analysed"] = {
        model: {"patches": n, "seconds_covered_by_patches": round(n * PATCH_S, 1)}
        for model, n in data["patches"].items()
    }
    data["note"] = (
        "musicnn-architecture graphs rebuilt under tf_keras give wrong outputs (inf in the "
        "frontend, see NOTES.md); their timing is still the original pipeline's cost"
    )
    return data


def _ratio(base: dict, ours: dict) -> dict:
    """How many times less the original costs than ours on each measure (>1: ours cheaper)."""
    return {
        "cpu_including_startup": round(base["cpu_s"] / ours["cpu_s"], 2),
        "cpu_after_imports": round(base["cpu_s_after_imports"] / ours["cpu_s_after_imports"], 2),
        "wall_including_startup": round(base["wall_s"] / ours["wall_s"], 2),
    }


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child_analyze(Path(sys.argv[2]), json.loads(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="folder of real recordings")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--work", type=Path, default=HERE / ".work")
    parser.add_argument("--pools", default="thread", help="thread[,process] for the defaults run")
    parser.add_argument("--max-patches", type=int, default=DEFAULT_MAX_PATCHES)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:N or mps")
    parser.add_argument(
        "--no-mixed-precision", action="store_true", help="float32 members only (CUDA)"
    )
    parser.add_argument(
        "--float32-too", action="store_true", help="also run like-for-like with fast forms off"
    )
    parser.add_argument("--skip-full", action="store_true", help="no every-patch run")
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
            "audio_s": round(sum(_duration(f) for f in files), 1),
            "formats": formats,
            "source": str(args.source) if args.source else "synthesised",
        },
        "startup": "counted on both sides (each side is a child process: interpreter, imports "
        "and model loading are in cpu_s; cpu_s_after_imports leaves interpreter and imports out "
        "on both sides); library scanning is not counted",
    }
    common = {
        "workers": args.workers,
        "threads": args.threads,
        "device": args.device,
        "mixed_precision": not args.no_mixed_precision,
    }
    if not args.skip_full:
        result["like_for_like"], full_db = run_ours(
            corpus_dir, args.work, "like_for_like", bundles=list(LIKE_FOR_LIKE),
            max_patches=None, **common,
        )  # fmt: skip
        if args.float32_too:
            result["like_for_like_float32"], _ = run_ours(
                corpus_dir, args.work, "like_for_like_float32", bundles=list(LIKE_FOR_LIKE),
                max_patches=None, fast_forms=False, **common,
            )  # fmt: skip
    if args.skip_baseline:
        result["baseline"] = {"unavailable": "skipped (--skip-baseline)"}
    else:
        why = prepare_baseline() if args.prepare_baseline else None
        result["baseline"] = (
            {"unavailable": why} if why else run_baseline(args.tf_python, files, args.musicnn_path)
        )
    result["defaults"], sampled_db = run_ours(
        corpus_dir, args.work, "defaults", max_patches=args.max_patches, **common
    )
    if "process" in args.pools.split(","):
        result["defaults_process_pool"], _ = run_ours(
            corpus_dir, args.work, "defaults_process", pool="process", **common
        )
    fast = list(PROFILES["fast"])
    result["fast_profile_every_patch"], _ = run_ours(
        corpus_dir, args.work, "fast_every_patch", bundles=fast, max_patches=None, **common
    )
    result["fast_profile"], _ = run_ours(
        corpus_dir, args.work, "fast", bundles=fast, max_patches=args.max_patches, **common
    )
    result["tag_one_track"] = tag_one_track(files)
    result["tag_one_track_fast_profile"] = tag_one_track(files, "fast")
    if not args.skip_full:
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
    base = result["baseline"]
    if "cpu_s" in base:
        speed: dict = {
            "members_compared": {
                "MSD_musicnn": "genre/MSD_musicnn",
                "MSD_vgg": "genre/MSD_vgg",
                "MTT_musicnn": "instruments/MTT_musicnn",
                "MTT_vgg": "instruments/MTT_vgg",
            }
        }
        if "like_for_like" in result:
            speed["like_for_like_every_patch"] = _ratio(base, result["like_for_like"])
        speed["defaults_vs_original_every_patch_run"] = _ratio(base, result["defaults"])
        speed["fast_profile_less_work_per_patch"] = {
            "every_patch": _ratio(base, result["fast_profile_every_patch"]),
            "default_patch_limit": _ratio(base, result["fast_profile"]),
            "note": "distilled students instead of the four networks: less work per patch",
        }
        result["speedup_vs_original"] = speed
    result["machine"]["load_avg_at_end"] = os.getloadavg()
    # the like-for-like ratio first, then everything it was computed from
    ordered = {"speedup_vs_original": result.pop("speedup_vs_original", None), **result}
    json.dump(ordered, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
