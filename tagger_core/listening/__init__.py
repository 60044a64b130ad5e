"""The listening stage: audio → stored per-member model outputs.

Takes library tracks (or bare files) and hands on raw model outputs: it decodes audio,
computes log-mel patches, samples the stretches a model hears (one path for ``tag`` and
``analyze``), picks the device, builds the architectures and loads their weights, runs the
analysis engine and head bundles, and stores every member's logits in the ``analyses``
table. The only stage that imports torch at run time (besides ``training``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["analyze_and_predict"]


def __getattr__(name: str) -> Any:
    """``analyze_and_predict`` on first use: importing the package stays cheap (no torch)."""
    if name == "analyze_and_predict":
        from tagger_core.listening.main_job import analyze_and_predict

        return analyze_and_predict
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
