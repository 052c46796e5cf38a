"""Command line: `unziplora methods | demo` (also `python -m unziplora`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unziplora.methods import METHODS


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `unziplora` console script."""
    parser = argparse.ArgumentParser(prog="unziplora", description="Content and style LoRAs from a single image.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("methods", help="list the registered methods (the workflow's method wildcards)")
    demo = sub.add_parser("demo", help="train every method on a synthetic image with the tiny pipeline (CPU)")
    demo.add_argument("--out", type=Path, default=Path("results/demo"), help="output folder (default: %(default)s)")
    demo.add_argument("--steps", type=int, default=60, help="training steps per method (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)

    if args.command == "methods":
        for key, spec in METHODS.items():
            print(f"{key:12s} {spec.label:4s} {spec.summary}")
        return 0
    from unziplora.demo import run_demo  # heavy imports only when needed

    try:
        out = run_demo(args.out, steps=args.steps, seed=args.seed)
    except ValueError as err:
        print(f"unziplora: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out / 'grid.png'}, {out / 'summary.csv'} and one folder of LoRA files per method in {out}")
    return 0
