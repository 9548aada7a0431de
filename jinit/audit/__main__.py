"""``python -m jinit.audit TARGET``: the same as ``jinit audit TARGET``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
