"""``python -m cdss`` runs the command line."""

import sys

from cdss.cli import main

sys.exit(main())
