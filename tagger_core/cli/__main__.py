"""``python -m tagger_core.cli`` runs the ``music-tagger`` command."""

import sys

from tagger_core.cli import main

sys.exit(main())
