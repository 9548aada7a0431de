"""``python -m jinit verify``: the same as the ``jinit`` console command."""

import sys

from jinit.verify._cli import main

if __name__ == "__main__":
    sys.exit(main())
