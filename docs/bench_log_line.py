"""The cost of one request's log line, as a serve process writes it (issue 20).

    python docs/bench_log_line.py [N] 2>/dev/null      # default: 50000 lines

The logging set-up of `queueserver serve` (platform/logs.py: the JSON formatter, the filter that
masks secrets, a handler on standard error), and the line Edge writes for every answer
(operations/metrics.py, observe_http), N times: the microseconds a line, printed on standard
output. Standard error is where the lines go: send it to /dev/null or a file.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import time

from queueserver.platform import logs


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    logging.config.dictConfig(logs.config("INFO"))
    log = logging.getLogger("queueserver.requests")
    extra = {"method": "POST", "route": "/api/v1/centres/{centre}/tickets", "status": 201,
             "duration_ms": 3.2, "request_id": "5f0c2a9d81e34b67"}
    started = time.perf_counter()
    for _ in range(n):
        log.log(logging.INFO, "request", extra=extra)
    elapsed = time.perf_counter() - started
    print(f"{elapsed / n * 1e6:.1f} us a line ({n} lines)")


if __name__ == "__main__":
    main()
