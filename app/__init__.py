"""The PySide6 desktop application; it drives ``tagger_core`` and is never imported by it."""
