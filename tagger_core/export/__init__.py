"""Writing accepted labels back into files' tags, safely, with undo.

One module per tag system (``id3``, ``vorbis``, ``mp4``, ``apev2``, ``asf``)
behind ``registry.system_for``; ``plan`` decides what each track gets,
``safe_write`` swaps in a verified copy, ``batch`` keeps old tags and a backup
(``backups``, ``regions``) of each file and resumes interrupted runs, ``undo``
gives files back byte for byte, ``dump`` exports the database as CSV/JSON.
"""

from __future__ import annotations

from tagger_core.export.backups import BackupSettings
from tagger_core.export.batch import (
    ExportReport,
    FileDiff,
    list_batches,
    resume_unfinished,
    run_export,
)
from tagger_core.export.dump import dump
from tagger_core.export.options import ExportOptions
from tagger_core.export.undo import undo_batch

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
