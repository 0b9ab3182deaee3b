"""``python -m convkit.bench``: see :func:`convkit.bench.main.main`."""

import sys

from convkit.bench.main import main

sys.exit(main())
