"""``python -m monitor``: the same entry point as the ``news-monitor`` script."""

from monitor.launch import entry

entry()
