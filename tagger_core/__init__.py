"""Music Archive Tagger core: everything that is not GUI."""

__version__ = "0.1.0"
