"""news-monitor: scheduled news monitoring with per-subscriber digests."""

__version__ = "0.1.0"
