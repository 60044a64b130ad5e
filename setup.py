"""Package list for setuptools; everything else is in pyproject.toml.

The shipped data in ``resources/`` is installed as the package ``tagger_resources``
(mapped with ``package-dir`` in pyproject.toml). Package discovery only sees folders
that exist under their own name, so the mapped name has to be listed here by hand.
"""

from __future__ import annotations

from setuptools import find_namespace_packages, setup

# Namespace discovery (as pyproject's packages.find does by default), so a subpackage
# without __init__.py is not silently left out.
PACKAGES = find_namespace_packages(include=["tagger_core*", "app*"], exclude=["*.__pycache__"])
setup(packages=[*PACKAGES, "tagger_resources"])
