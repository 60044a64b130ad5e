"""How much of real music overflows the original musicnn extractor's float16 cast.

The original ``batch_data`` casts mel power to float16 and then computes
``log10(10000·mel + 1)`` in float16, so every bin with ``10000·mel > 65504``
becomes ``inf``. This re-implements only that cast on this project's own
frontend (same mel settings: 16 kHz, n_fft 512, hop 256, 96 Slaney mels) and
counts, per file, the 187-frame non-overlapping patches (the original's
default) that hold at least one ``inf``, and the share of ``inf`` bins.
It does not run TensorFlow; what the graphs then do with ``inf`` is in NOTES.md.

Usage: ``.venv/bin/python tools/musicnn_float16_overflow.py FILE...``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from tagger_core.errors import TaggerError
from tagger_core.labels.frontend_config import FrontendConfig
from tagger_core.listening.decode import decode
from tagger_core.listening.frontend import LogMelFrontend, make_patches

PATCH_FRAMES = 187


def overflow(path: Path, frontend: LogMelFrontend) -> tuple[int, int, float, float]:
    """(patches with inf, patches, share of inf bins, largest float32 logC value)."""
    audio = decode(path, frontend.config.sr)
    with torch.no_grad():
        mel = frontend(torch.from_numpy(audio)).numpy()  # power, [frames, 96]
    with np.errstate(over="ignore"):
        cast = np.log10(np.float16(10000) * mel.astype(np.float16) + np.float16(1))
    patches = make_patches(torch.from_numpy(np.isinf(cast)), PATCH_FRAMES).numpy()
    n_inf = int(patches.reshape(len(patches), -1).any(axis=1).sum())
    share = float(patches.mean()) if len(patches) else 0.0
    return n_inf, len(patches), share, float(np.log10(10000 * mel.max() + 1))


def main(argv: list[str] | None = None) -> int:
    files = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    frontend = LogMelFrontend(FrontendConfig(log_mode="none")).eval()
    total_inf = total = 0
    print("| file | patches with inf | patches | inf bins | max float32 logC |")
    print("|---|---:|---:|---:|---:|")
    for path in files:
        try:
            n_inf, n, share, top = overflow(path, frontend)
        except TaggerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        total_inf, total = total_inf + n_inf, total + n
        print(f"| {path.name} | {n_inf} | {n} | {100 * share:.2f} % | {top:.2f} |")
    print(f"| all | {total_inf} | {total} | | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
