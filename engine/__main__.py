"""``python -m engine solve ...``: the headless CLI (see :mod:`engine.cli`)."""

import gc
import os
import sys

# Start-up (issue 15): the imports below allocate some 10^5 objects that live as long as the process; collecting
# while they are made is wasted work (~0.02-0.03 s CPU), and frozen afterwards no later collection rescans them.
gc.disable()
# Before numpy loads: OpenBLAS would start a thread per core at import, ~0.05 s CPU of numpy's ~0.14 s import,
# for the few small matrix-vector products the engine does. A value the user set wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from engine.cli import main  # noqa: E402  (after the settings above)

gc.freeze()
gc.enable()

if __name__ == "__main__":
    sys.exit(main())
