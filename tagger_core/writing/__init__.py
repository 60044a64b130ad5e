"""The writing stage: decided labels → files' tags, safely, with undo; database dumps.

Takes review decisions and calibrated predictions (``trust``) for library tracks and
hands on rewritten files, each verified, with the old tags kept for undo.

One module per tag system (``id3``, ``vorbis``, ``mp4``, ``apev2``, ``asf``)
behind ``registry.system_for``; ``plan`` decides what each track gets,
``safe_write`` swaps in a verified copy, ``batch`` keeps old tags and a backup
(``backups``, ``regions``) of each file and resumes interrupted runs, ``undo``
gives files back byte for byte, ``dump`` exports the database as CSV/JSON.
"""

from __future__ import annotations

from tagger_core.writing.backups import BackupSettings
from tagger_core.writing.batch import (
    ExportReport,
    FileDiff,
    list_batches,
    resume_unfinished,
    run_export,
)
from tagger_core.writing.dump import dump
from tagger_core.writing.options import ExportOptions
from tagger_core.writing.undo import undo_batch

__all__ = [
    "BackupSettings",
    "ExportOptions",
    "ExportReport",
    "FileDiff",
    "dump",
    "list_batches",
    "resume_unfinished",
    "run_export",
    "undo_batch",
]
