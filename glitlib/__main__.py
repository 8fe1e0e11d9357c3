"""``python -m glitlib`` is the ``glit`` command."""

import sys

from .cli import main

sys.exit(main())
