"""Score another `instrument-family` bundle (e.g. the previous version) on the test splits.

    .venv/bin/python tools/compare_instrument_bundle.py --bundle OLD_DIR --data DIR

Uses the same scoring as ``tools/evaluate_instrument_model.py`` and the other
bundle's own shipped temperature; writes ``<out>/v<major>_on_test_seed<recipe seed>.json``
(v2's own look at v1: ``v2/v1_on_v2_test.json``). Run once,
together with the test phase of the bundle being shipped: it looks at the test clips.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scipy.special import expit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import evaluate_instrument_model as ev  # noqa: E402

from tagger_core.labels.bundles import load_bundle_dir  # noqa: E402
from tagger_core.listening.weights import load_members  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/models/instrument-family")
    args = parser.parse_args(argv)
    bundle = load_bundle_dir(args.bundle)
    models = load_members(bundle)
    t = bundle.manifest["calibration"]["temperature"][0]
    out = {"bundle": f"{bundle.id} {bundle.version}", "temperature": t}
    for split in ev.TEST_SPLITS:
        data = ev.load_split(args.data, split)
        y = data["labels"].astype(float)
        z = ev.member_file_logits(models, data["features"], bundle.patch_frames,
                                  bundle.patch_hop_frames)  # fmt: skip
        out[split] = {
            "ensemble_T1": ev.scores(expit(z).mean(0), y, intervals=True),
            "ensemble_at_shipped_T": ev.scores(expit(z / t).mean(0), y, intervals=True),
        }
    seed = json.loads((args.data / "dataset.json").read_text())["recipe"].get("seed", 0)
    out["test_recipe_seed"] = seed
    name = f"v{bundle.version.split('.')[0]}_on_test_seed{seed}.json"
    (args.out / name).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({s: out[s]["ensemble_at_shipped_T"] for s in ev.TEST_SPLITS}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
