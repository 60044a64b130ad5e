"""Rebuild the shipped bundles' ``shift_reference.npz`` (see ``tagger_core.trust.shift``).

The reference set is the first ``--clips`` validation clips of the
instrument-family v2 recipe (``tools/instrument_data.py``, split ``val``: its
seed, mix and per-source shares of FluidR3_GM, MuseScore_General_Lite, TimGM6mb
and OPL-3 FM; 35 % Bach corpus excerpts when music21 is installed), i.e. a
prefix of the very clips that v2's shipped temperature was fitted on. ``genre`` and ``instruments``
(pretrained musicnn) come with no validation data we could ship, so they get
the same rendered clips: a documented, reproducible reference that says
"unlike rendered General-MIDI music", not "unlike their training data".

    .venv/bin/python tools/make_shift_reference.py --clips 200
    .venv/bin/python tools/make_shift_reference.py --clips 100 --check-seed 1

``--check-seed N`` writes nothing: it renders clips of the same recipe with
another seed and prints (JSON) each bundle's shift check against the shipped
references — they should not look shifted.

Needs fluidsynth and the soundfonts (``make install``) and the bundles' weights;
runs the real analysis (scan + analyse in a temporary library).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.db import open_library  # noqa: E402
from tagger_core.errors import TaggerError  # noqa: E402
from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.listening import analyze_and_predict  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402
from tagger_core.trust.shift import REFERENCE_FILE, load_features, save_reference  # noqa: E402

TRAIN_SCORES = 48  # the recipe's 60 scores minus the 12 held out for its test splits
SR = 16000


def render(out: Path, n_clips: int, seconds: float, seed: int) -> tuple[int, str]:
    """Write the clips as WAV files; returns how many and a note on the corpus."""
    try:
        scores = recipe.load_corpus_scores(TRAIN_SCORES)
        corpus = f"with Bach corpus excerpts ({len(scores)} scores)"
    except TaggerError:
        scores, corpus = [], "without corpus excerpts (music21 not installed)"
    split_seed, mix_name, per_source, _, _ = recipe.SPLITS["val"]
    total = sum(per_source.values())
    written = 0
    for k, (source, n_full) in enumerate(per_source.items()):
        n = max(1, round(n_clips * n_full / total))
        clips = recipe.make_clips(split_seed * 100 + k + 1000 * seed, n, seconds, scores,
                                  mix=recipe.MIXES[mix_name])  # fmt: skip
        for start in range(0, n, 200):
            part = clips[start : start + 200]
            audio = recipe.render_clips(part, recipe.SOURCES[source][1], seconds, sr=SR)
            for clip, clip_audio in zip(part, audio, strict=True):
                sf.write(out / f"val_{source}_{clip.index:04d}.wav", clip_audio, SR,
                         subtype="PCM_16")  # fmt: skip
        written += n
    return written, corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bundles", default="genre,instruments,instrument-family")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--check-seed", type=int, help="check the shipped references instead")
    args = parser.parse_args(argv)
    bundles = [b for b in args.bundles.split(",") if b]
    seed = args.seed if args.check_seed is None else args.check_seed
    with tempfile.TemporaryDirectory() as tmp:
        audio_dir = Path(tmp) / "clips"
        audio_dir.mkdir()
        n, corpus = render(audio_dir, args.clips, args.seconds, seed)
        print(f"rendered {n} clips {corpus}", flush=True)
        library = open_library(Path(tmp) / "reference.db")
        scan(library, [audio_dir])
        report = analyze_and_predict(library, None, bundles=bundles, threads=args.threads)
        if report.errors:
            print("\n".join(report.errors[:5]), file=sys.stderr)
            return 1
        if args.check_seed is not None:
            print(json.dumps(report.shift, indent=2))
            library.close()
            return 0
        for bundle_id in bundles:
            bundle = load_bundle(bundle_id)
            with library.session() as s:
                feats = load_features(s, bundle_id, bundle.version, None, 10**6, args.seed)
            source = (
                f"{len(feats)} validation clips of the instrument-family recipe "
                f"(tools/make_shift_reference.py --clips {args.clips} --seed {args.seed}; "
                f"v2 recipe: FluidR3_GM, MuseScore_General_Lite, TimGM6mb, OPL-3_FM, {corpus})"
            )
            path = bundle.path / REFERENCE_FILE
            save_reference(path, feats, source, bundle.version)
            print(f"{bundle_id}: {path} ({len(feats)} tracks)", flush=True)
        library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
