"""What every room stands on: config, clock, errors, logs, runtime, Redis connections, the
embedded Redis and RQ's queues."""
