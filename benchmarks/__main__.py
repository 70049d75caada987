"""Entry point: ``python -m benchmarks``."""

import sys

from benchmarks._runner import main

if __name__ == "__main__":
    sys.exit(main())
