"""`python -m toyworld atlas OUT.png`: every shape (rows) in every style (columns) of the toy world."""

import argparse
from pathlib import Path

from PIL import Image

from toyworld.render import atlas


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m toyworld", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    draw = sub.add_parser("atlas", help="write the atlas of shapes × styles as a PNG")
    draw.add_argument("out", type=Path)
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument("--scale", type=int, default=2, help="pixel magnification (nearest neighbour)")
    args = parser.parse_args(argv)
    sheet = atlas(seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.NEAREST).save(args.out)
    print(f"wrote {args.out} ({sheet.width // 64} styles × {sheet.height // 64} shapes)")


if __name__ == "__main__":
    main()
