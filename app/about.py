"""Help ▸ About: version, library, the models found and the device analyses use."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import tagger_core

DISTRIBUTION = "music-archive-tagger"


def version() -> str:
    """The installed package's version, else the core's own (running from a checkout)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return tagger_core.__version__


def about_text(
    db_path: str, device_setting: str, info: dict[str, Any] | None, error: str | None
) -> str:
    """The About box's text; ``info`` is ``app.core_info.describe()`` once the child answered."""
    lines = [
        f"Music Archive Tagger {version()}",
        "Calibrated genre and instrument-family tagging for music archives.",
        "",
        f"Library database: {db_path}",
    ]
    if info is not None:
        lines.append("Models:")
        lines += [f"  • {b['id']} {b['version']} ({b['task']})" for b in info["bundles"]]
        available = ", ".join(info["devices"])
        lines.append(f"Device: {device_setting} (available here: {available})")
    elif error is not None:
        lines.append(f"Models and devices could not be listed: {error}")
        lines.append(f"Device: {device_setting}")
    else:
        lines.append("Models and devices: looking…")
        lines.append(f"Device: {device_setting}")
    return "\n".join(lines)
