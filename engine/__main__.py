"""``python -m engine solve ...``: the headless CLI (see :mod:`engine.cli`)."""

import os
import sys

# Before numpy loads: OpenBLAS would start a thread per core at import, ~0.09 s CPU of a 0.2 s start-up (issue 15),
# for the few small matrix-vector products the engine does. A value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from engine.cli import main

if __name__ == "__main__":
    sys.exit(main())
