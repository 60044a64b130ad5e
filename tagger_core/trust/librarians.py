"""Who decides: the librarian's name recorded on every review decision and claim.

Why a default: a librarian working alone should not have to type a name; the OS
login is who they are on that machine. ``getpass.getuser`` fails where no login
name can be found (a container without a ``passwd`` entry), so there is a fallback.
"""

from __future__ import annotations

import getpass
import os

from tagger_core.errors import ConfigError

#: Longest name stored (``review_decisions.decided_by`` is ``String(64)``).
MAX_USER_LENGTH = 64


def default_user() -> str:
    """The OS login name; ``uid<N>`` (or ``librarian``) when the system knows none."""
    try:
        name = getpass.getuser().strip()
    except (KeyError, OSError, ImportError):
        name = ""
    if name:
        return name[:MAX_USER_LENGTH]
    getuid = getattr(os, "getuid", None)
    return f"uid{getuid()}" if getuid is not None else "librarian"


def check_user(name: str | None) -> str:
    """``name`` stripped (the default login for None/blank); ConfigError when too long."""
    if name is None or not name.strip():
        return default_user()
    name = name.strip()
    if len(name) > MAX_USER_LENGTH:
        raise ConfigError(f"user name longer than {MAX_USER_LENGTH} characters: {name[:20]}…")
    if any(not ch.isprintable() for ch in name):
        raise ConfigError(f"user name with control characters: {name!r}")
    return name
