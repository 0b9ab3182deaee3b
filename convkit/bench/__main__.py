"""``python -m convkit.bench``: see :func:`convkit.bench.command.main`."""

import sys

from convkit.bench.command import main

sys.exit(main())
