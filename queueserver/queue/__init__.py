"""The hall's day: check-in at the desk, the queues and their order, positions and estimates,
counters and calls."""
