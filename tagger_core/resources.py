"""Where the shipped data (model bundles, taxonomies, demo data) lives.

The ``resources/`` folder sits beside the packages in a source checkout and is
installed as the ``resources`` package directory in a wheel; both resolve here.
"""

from __future__ import annotations

import os
from pathlib import Path


def resources_root() -> Path:
    """Return the root of the shipped resources (``MUSIC_TAGGER_RESOURCES`` overrides)."""
    override = os.environ.get("MUSIC_TAGGER_RESOURCES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a file or folder under the resources root."""
    return resources_root().joinpath(*parts)
