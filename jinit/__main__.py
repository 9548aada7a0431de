"""``python -m jinit verify``: the same as the ``jinit`` console command (:mod:`jinit._cli`).

It starts where the console script starts (``_jinit_launch.main``, shipped beside the
package), so that a Ctrl-C during the run is handled the same way; in a copy of the package
without that module, in :func:`jinit._cli.main`.
"""

import sys

try:
    from _jinit_launch import main
except ImportError:
    from jinit._cli import main

if __name__ == "__main__":
    sys.exit(main())
