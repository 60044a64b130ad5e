"""How the instrument-family bundle ranks the family of real audio whose name says what it is.

    apt-get download lmms-common sonic-pi-samples
    for d in lmms-common_*.deb sonic-pi-samples_*.deb; do dpkg-deb -x "$d" ROOT; done
    .venv/bin/python tools/real_samples_check.py --root ROOT [--bundle DIR] [--json OUT]

Labels: ``docs/models/instrument-family/real_samples.toml``; logic in
``tagger_core/training/real_samples.py``. Chance: 1/11 top 1, 3/11 top 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tagger_core.errors import TaggerError  # noqa: E402
from tagger_core.labels.bundles import load_bundle, load_bundle_dir  # noqa: E402
from tagger_core.listening.single_file import BundleRunner  # noqa: E402
from tagger_core.training.real_samples import labelled_samples, score_files, summary  # noqa: E402

LABELS = ROOT / "docs/models/instrument-family/real_samples.toml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="where the .debs were extracted")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--bundle", type=Path, help="a bundle directory (default: the shipped one)")
    parser.add_argument("--json", type=Path, help="write every file's rank and top 3 here")
    args = parser.parse_args(argv)
    bundle = load_bundle_dir(args.bundle) if args.bundle else load_bundle("instrument-family")
    try:
        files = labelled_samples(args.labels, args.root)
    except TaggerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows, skipped = score_files(BundleRunner(bundle, threads=1), files, args.root)
    for item in skipped:
        print(f"skipped {item['file']}: {item['reason']}", file=sys.stderr)
    print(f"bundle {bundle.id} {bundle.version}: {len(rows)} files scored, {len(skipped)} skipped")
    print("| family (kind) | files | top 1 | top 3 |\n|---|---:|---:|---:|")
    for key, row in summary(rows).items():
        print(f"| {key} | {row['files']} | {row['top1']} | {row['top3']} |")
    for row in rows:
        top = ", ".join(f"{f} {p:.2f}" for f, p in row["top3"])
        print(f"{row['file']}: {row['family']} rank {row['rank']} ({top})")
    if args.json:
        record = {"bundle": f"{bundle.id} {bundle.version}", "files": rows, "skipped": skipped,
                  "summary": summary(rows)}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
