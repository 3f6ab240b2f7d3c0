"""The command line: `sim validate | run | plot | summary | compare | sensitivity | converge |
calibrate | fit | backtest | report`, one module per command.

User mistakes (ScenarioError) print one clear paragraph and exit with status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sim.errors import ScenarioError
from sim.version import __version__

# one module per command, each with register(subparsers); imported when the parser is built,
# and each imports what its command needs only when it runs, so start-up stays fast
COMMANDS = ("validate", "run", "plot", "summary", "compare", "sensitivity", "converge", "calibrate", "fit", "backtest", "report")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    ap = argparse.ArgumentParser(prog="sim", description="CAR-T competitive-landscape Monte Carlo simulator")
    ap.add_argument("--version", action="version", version=f"sim {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in COMMANDS:
        importlib.import_module(f"sim.cli.{name}").register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run the command line; the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ScenarioError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
