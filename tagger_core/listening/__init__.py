"""The listening stage: audio → stored per-member model outputs.

Takes library tracks (or bare files) and hands on raw model outputs: it decodes audio,
computes log-mel patches, samples the stretches a model hears (one path for ``tag`` and
``analyze``), picks the device, builds the architectures and loads their weights, runs the
analysis engine and head bundles, and stores every member's logits in the ``analyses``
table. The only stage that imports torch at run time (besides ``training``).
"""

from tagger_core.listening.main_job import analyze_and_predict

__all__ = ["analyze_and_predict"]
