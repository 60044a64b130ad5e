"""The database under every stage: typed ORM models, engine set-up, migrations, blobs.

Takes nothing of ours and hands every stage its tables (tracks, raw model outputs,
calibrations, predictions, review decisions, export batches), the codec for the NumPy
arrays stored in them, and the read/write helpers for raw outputs. Knows no models.
"""

from tagger_core.db.library import Library, default_db_path, open_library

__all__ = ["Library", "default_db_path", "open_library"]
