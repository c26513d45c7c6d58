"""``python -m skimpute_gtex``: the same as the ``skimpute-gtex`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
