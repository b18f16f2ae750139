"""``python -m monitor``: the same entry point as the ``news-monitor`` script."""

import sys

from monitor.cli import main

sys.exit(main())
