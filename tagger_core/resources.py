"""Where the shipped data (model bundles, taxonomies) lives.

In a source checkout it is the ``resources/`` folder beside the packages; an
installed wheel carries the same folder as the data package ``tagger_resources``.
``MUSIC_TAGGER_RESOURCES`` overrides both.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def resources_root() -> Path:
    """Return the root of the shipped resources."""
    override = os.environ.get("MUSIC_TAGGER_RESOURCES")
    if override:
        return Path(override)
    # The installed data package first: a bare ``resources`` folder beside the
    # packages may belong to another distribution in a shared site-packages.
    spec = importlib.util.find_spec("tagger_resources")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """Path of a file or folder under the resources root."""
    return resources_root().joinpath(*parts)
