"""Rebuild the shipped bundles' ``shift_reference.npz`` (see ``tagger_core.trust.shift``).

The reference set is the first ``--clips`` validation clips of the
instrument-family recipe (``tools/instrument_data.py``: split seed 2, the
training soundfonts FluidR3_GM and TimGM6mb alternating, 35 % Bach corpus
excerpts when music21 is installed). For ``instrument-family`` these are the
clips its shipped temperature was fitted on. ``genre`` and ``instruments``
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

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.db import open_library  # noqa: E402
from tagger_core.errors import TaggerError  # noqa: E402
from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.library.scan import scan  # noqa: E402
from tagger_core.listening import analyze_and_predict  # noqa: E402
from tagger_core.training import instrument_data as recipe  # noqa: E402
from tagger_core.trust.shift import REFERENCE_FILE, load_features, save_reference  # noqa: E402

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
VAL_SPLIT_SEED = 2
TRAIN_SCORES = 48  # the recipe's 60 scores minus the 12 held out for its test split
SR = 16000


def render(out: Path, n_clips: int, seconds: float, seed: int) -> tuple[int, str]:
    """Write the clips as WAV files; returns how many and a note on the corpus."""
    try:
        scores = recipe.load_corpus_scores(TRAIN_SCORES)
        corpus = f"with Bach corpus excerpts ({len(scores)} scores)"
    except TaggerError:
        scores, corpus = [], "without corpus excerpts (music21 not installed)"
    clips = recipe.make_clips(VAL_SPLIT_SEED + 1000 * seed, n_clips, seconds, scores)
    which = np.arange(n_clips) % len(SOUNDFONTS)
    for k, soundfont in enumerate(SOUNDFONTS):
        idx = np.flatnonzero(which == k)
        for start in range(0, len(idx), 200):
            part = idx[start : start + 200]
            audio = recipe.render_clips([clips[i] for i in part], soundfont, seconds, sr=SR)
            for i, clip_audio in zip(part, audio, strict=True):
                sf.write(out / f"val_{i:04d}.wav", clip_audio, SR, subtype="PCM_16")
    return n_clips, corpus


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
                f"FluidR3_GM/TimGM6mb, {corpus})"
            )
            path = bundle.path / REFERENCE_FILE
            save_reference(path, feats, source, bundle.version)
            print(f"{bundle_id}: {path} ({len(feats)} tracks)", flush=True)
        library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
