"""The `queueserver bench` command: runs the benchmark, prints the table, then the JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from queueserver.platform.config import Config
from queueserver.tools.bench.procs import BenchError
from queueserver.tools.bench.report import table
from queueserver.tools.bench.run import run


def main(config: Config, args: argparse.Namespace) -> int:
    targets = [t.strip() for t in (args.targets or "").split(",") if t.strip()]
    try:
        result = run(config, processes=args.processes, targets=targets, short=args.short,
                     appendfsync=args.appendfsync, centre=args.centre,
                     only=args.only)
    except BenchError as e:
        print(f"queueserver bench: {e}", file=sys.stderr)
        return 2
    result["command"] = " ".join(["queueserver", *sys.argv[1:]])
    print(table(result))
    document = json.dumps(result, ensure_ascii=False)
    if args.json_path:
        Path(args.json_path).write_text(document + "\n")
    # Last, on one line, for scripts: `queueserver bench | tail -1`.
    print(document)
    return 0
