"""queueserver: a permit centre's same-day queue and counter-calling system."""

__version__ = "0.1.0"
