"""Module-level job targets for spawned child processes in tests (picklable by name)."""

from __future__ import annotations

import time
from typing import Any


def return_soon(value: Any, report: Any, cancel: Any) -> Any:
    """Report once, wait a moment, return ``value``: a job that ends normally."""
    report(0, 1, "working")
    time.sleep(0.2)
    return value
