"""A resources folder in which one shipped bundle has a newer version, for upgrade tests.

Everything is linked to the shipped resources except that bundle's ``manifest.json``,
rewritten with the new version (and, optionally, a new shipped calibration): the way a
release that ships retrained weights looks to a library analysed by the old one. Point
``MUSIC_TAGGER_RESOURCES`` at the returned folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tagger_core.resources import resources_root


def upgraded_resources(
    root: Path, bundle_id: str, version: str, calibration: dict[str, Any] | None = None
) -> Path:
    """``root`` as a resources folder where ``bundle_id`` is at ``version``."""
    shipped = resources_root()
    root.mkdir(parents=True, exist_ok=True)
    for entry in shipped.iterdir():
        if entry.name != "models":
            (root / entry.name).symlink_to(entry)
    models = root / "models"
    models.mkdir()
    for folder in (shipped / "models").iterdir():
        if folder.name != bundle_id:
            (models / folder.name).symlink_to(folder)
    bundle = models / bundle_id
    bundle.mkdir()
    for item in (shipped / "models" / bundle_id).iterdir():
        if item.name != "manifest.json":
            (bundle / item.name).symlink_to(item)
    manifest = json.loads((shipped / "models" / bundle_id / "manifest.json").read_text())
    manifest["version"] = version
    if calibration is not None:
        manifest["calibration"] = calibration
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return root
