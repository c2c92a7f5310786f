"""``python -m gmmfast``: the same as the ``gmmfast`` console script."""

import sys

from gmmfast.cli import main

if __name__ == "__main__":
    sys.exit(main())
