"""The command line: `queueserver` and its commands, the worker, demo, simulate and bench."""
