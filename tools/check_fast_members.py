"""Accept or reject each member's int8 form and write the verdict next to its weights.

For every bundle named (default: the shipped audio bundles) this builds the
fixed check set (:mod:`tagger_core.training.fast_form_check`), calibrates the
int8 activation ranges on other clips, compares each member's int8 outputs
with its float32 outputs and writes ``resources/models/<id>/fast_forms.json``
with the verdict, the measured figures and the frozen quantization
parameters. The engine only reads that file; re-run this tool whenever a
bundle's weights or version change.

    .venv/bin/python tools/check_fast_members.py [--bundles genre,instruments] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tagger_core.labels.bundles import load_bundle  # noqa: E402
from tagger_core.listening.fast_forms import verdict_path  # noqa: E402
from tagger_core.listening.report import DEFAULT_BUNDLES  # noqa: E402
from tagger_core.training.fast_form_check import (  # noqa: E402
    check_bundle,
    check_clips,
    write_verdicts,
)


def read_previous(bundle) -> dict:
    """The bundle's current ``fast_forms.json`` (empty when there is none or it is unreadable)."""
    try:
        return json.loads(verdict_path(bundle).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", default=",".join(DEFAULT_BUNDLES))
    parser.add_argument("--members", help="only these members (comma-separated)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads while timing")
    parser.add_argument("--dry-run", action="store_true", help="print, do not write")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    members = args.members.split(",") if args.members else None
    clips_by_sr: dict[int, tuple[list, list]] = {}
    summary = {}
    for bundle_id in args.bundles.split(","):
        bundle = load_bundle(bundle_id.strip())
        sr = bundle.frontend_config.sr
        if sr not in clips_by_sr:
            # the check set (seed 0) and the int8 calibration clips (seed 1) never overlap
            clips_by_sr[sr] = (
                check_clips(sr, seed=0),
                check_clips(sr, seed=1, per_style=1, rendered=6),
            )
        check, calibration = clips_by_sr[sr]
        data = check_bundle(bundle, check, calibration, members)
        previous = read_previous(bundle)
        if members and previous.get("version") == bundle.version:
            # checking some members keeps the other members' verdicts
            data["members"] = {**previous.get("members", {}), **data["members"]}
        if not args.dry_run:
            print(f"wrote {write_verdicts(bundle, data)}", file=sys.stderr)
        summary[bundle.id] = {
            name: {
                "verdict": m["forms"]["int8"]["verdict"],
                "reasons": m["forms"]["int8"]["reasons"],
                "speedup": m["forms"]["int8"]["figures"]["speedup"],
                "label_max_abs_dp": round(m["forms"]["int8"]["figures"]["label_max_abs_dp"], 4),
                "raw_max_abs_dp": round(m["forms"]["int8"]["figures"]["raw_max_abs_dp"], 4),
            }
            for name, m in data["members"].items()
            if not members or name in members
        }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
