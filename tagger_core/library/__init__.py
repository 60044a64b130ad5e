"""The library stage: folders → track rows.

Takes folders of audio files and hands on one ``tracks`` row per file: the scan
(incremental, by size and mtime), the tags a file already carries (read-only), the formats
we accept, a fingerprint of the audio payload, and the read-side queries and paged track
views the CLI and the GUI show. Imports ``db`` and ``labels`` only; never a model.
"""
