"""Library database: typed ORM models, engine set-up and migrations."""

from tagger_core.db.library import Library, default_db_path, open_library

__all__ = ["Library", "default_db_path", "open_library"]
