"""Child-process work for the claim tests: one librarian claiming until nothing is left.

A module-level function, so a spawned child can import it by name.
"""

from __future__ import annotations

import time
from typing import Any


def claim_until_empty(db: str, user: str, batch: int, barrier: Any, out: Any) -> None:
    """Wait for every claimer, then claim ``batch`` at a time until the queue is empty."""
    from tagger_core.db import open_library
    from tagger_core.trust.claims import claim_tracks

    library = open_library(db)
    try:
        barrier.wait(timeout=120)
        mine: list[int] = []
        while got := claim_tracks(library, user, batch):
            mine.extend(got)
            time.sleep(0.005)  # a librarian's pause: lets the others' claims interleave
        out.put((user, mine))
    finally:
        library.close()
