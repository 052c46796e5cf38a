"""`python -m toyworld atlas OUT.png`: every shape (rows) in every style (columns) of the toy world.
`python -m toyworld oracles OUT_DIR`: train the shape and style oracles on seeded renders (report.json beside them)."""

import argparse
from pathlib import Path

from PIL import Image

from toyworld.oracles import OracleTraining, build_oracles
from toyworld.render import atlas


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m toyworld", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    draw = sub.add_parser("atlas", help="write the atlas of shapes × styles as a PNG")
    draw.add_argument("out", type=Path)
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument("--scale", type=int, default=2, help="pixel magnification (nearest neighbour)")
    oracles = sub.add_parser("oracles", help="train the shape and style oracles; write them and report.json")
    oracles.add_argument("out", type=Path)
    oracles.add_argument("--images", type=int, default=OracleTraining.images)
    oracles.add_argument("--steps", type=int, default=OracleTraining.steps)
    oracles.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "oracles":
        report = build_oracles(args.out, OracleTraining(images=args.images, steps=args.steps, seed=args.seed))
        for factor, result in report["oracles"].items():
            print(f"{factor}: test accuracy {result['accuracy']:.4f} ({result['train_s']} s)")
        return
    sheet = atlas(seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.NEAREST).save(args.out)
    print(f"wrote {args.out} ({sheet.width // 64} styles × {sheet.height // 64} shapes)")


if __name__ == "__main__":
    main()
