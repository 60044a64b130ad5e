"""Screenshot of review mode through claims: three librarians sharing one queue.

Run under a virtual X server so the real window system draws it:

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tools/screenshot_claims.py

It builds a throwaway library with flagged predictions (no audio analysis: the
review panel only reads stored predictions), lets "bob" and "carol" claim
batches through the core, then opens the window as "alice" with review mode
working through claims, and saves ``docs/screenshots/review_claims.png``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENRES = ("Rock", "Jazz", "Blues", "Folk", "Electronic", "Classical", "Pop", "Ambient")
ARTISTS = ("Ada Quartet", "The Lanterns", "Mina Ko", "Old Pier Band", "Synth Workshop")


def seed(library, n: int) -> None:
    """``n`` flagged tracks with calibrated-looking confidences, the most useful ones first."""
    import numpy as np

    from tagger_core.db.models import Prediction, Track

    rng = np.random.default_rng(4)
    with library.session() as s:
        for i in range(n):
            title = f"{['Night', 'Harbour', 'Paper', 'Blue', 'Slow'][i % 5]} Song {i + 1}"
            t = Track(
                path=os.fsencode(f"/archive/{i:03}.flac"),
                path_text=f"/archive/{i:03}.flac",
                size=1,
                mtime_ns=1,
                title=title,
                artist=ARTISTS[i % len(ARTISTS)],
                genres=[GENRES[i % len(GENRES)]],
            )
            s.add(t)
            s.flush()
            values = rng.dirichlet(np.ones(len(GENRES)) * 0.6)
            pairs = zip(GENRES, values, strict=True)
            conf = {g: round(float(min(0.97, v * 2.2)), 3) for g, v in pairs}
            spread = {g: round(float(rng.uniform(0.02, 0.15)), 3) for g in GENRES}
            uncertain = max(conf, key=lambda g: -abs(conf[g] - 0.5))
            s.add(
                Prediction(
                    track_id=t.id,
                    bundle_id="genre",
                    confidences=conf,
                    spread=spread,
                    flagged=True,
                    uncertainty=round(1 - i / n, 3),
                    summary=", ".join(g for g, v in conf.items() if v >= 0.5) or "not found",
                    flag_reasons=[
                        {
                            "code": "uncertain",
                            "label": uncertain,
                            "message": f"{uncertain} {conf[uncertain]:.2f} is in the "
                            "uncertain band 0.35–0.65",
                        }
                    ],
                )
            )


def main() -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    sys.path.insert(0, str(ROOT))
    from app.main_window import MainWindow
    from tagger_core.db import open_library
    from tagger_core.trust.claims import claim_tracks
    from tagger_core.trust.review import decide

    out = ROOT / "docs" / "screenshots"
    tmp = Path(tempfile.mkdtemp(prefix="claims-shot-"))
    library = open_library(tmp / "library.db")
    seed(library, 40)
    bob = claim_tracks(library, "bob", 6, task="genre")
    claim_tracks(library, "carol", 6, task="genre")
    decide(library, bob[0], "genre", "Jazz", "accept", user="bob")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("review/claims", "always")
    settings.setValue("review/claim_batch", 8)
    settings.setValue("review/user", "alice")
    window = MainWindow(library, settings)
    window.resize(1500, 900)
    window.show()
    window.act_review.trigger()
    window.review.move_cursor(1)
    window.review.toggle_label()  # one decision, so a mark shows
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.05)
    path = out / "review_claims.png"
    window.grab().save(str(path))
    print(path)
    window.close()
    library.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
