"""``python -m jinit verify``: the same as the ``jinit`` console command (:mod:`jinit._cli`)."""

import sys

from jinit._cli import main

if __name__ == "__main__":
    sys.exit(main())
