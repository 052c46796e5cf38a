"""The toy world's commands (every artifact it commits is rebuilt by one of them):

python -m toyworld atlas OUT.png                                  # every shape × every style
python -m toyworld base-model OUT_DIR --oracles data/toy/oracles  # pretrain the base model, measure it
python -m toyworld oracles OUT_DIR --vae data/toy/base_model      # shape and style oracles (report.json beside)
python -m toyworld quality MODEL_DIR --oracles data/toy/oracles   # oracle-measured quality of a base model
python -m toyworld figures data/toy                               # confusion matrices of oracles and model
python -m toyworld benchmark data/toy/benchmark                   # the benchmark images and their sheet
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from PIL import Image


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m toyworld", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    draw = sub.add_parser("atlas", help="write the atlas of shapes × styles as a PNG")
    draw.add_argument("out", type=Path)
    draw.add_argument("--seed", type=int, default=0)
    draw.add_argument("--scale", type=int, default=2, help="pixel magnification (nearest neighbour)")
    base = sub.add_parser("base-model", help="pretrain the toy base model (pipeline folder + pretraining.json)")
    base.add_argument("out", type=Path)
    base.add_argument("--oracles", type=Path, help="measure the result with these oracles")
    base.add_argument("--unet-steps", type=int, help="override the UNet step count (quick checks)")
    base.add_argument("--vae-steps", type=int, help="override the VAE step count (quick checks)")
    base.add_argument("--images", type=int, help="override the number of pretraining renders (quick checks)")
    oracles = sub.add_parser("oracles", help="train the shape and style oracles; write them and report.json")
    oracles.add_argument("out", type=Path)
    oracles.add_argument("--vae", type=Path, help="base model folder: also train on its VAE's reconstructions")
    oracles.add_argument("--images", type=int, help="override the number of training renders")
    oracles.add_argument("--steps", type=int, help="override the step count")
    quality = sub.add_parser("quality", help="oracle-measured quality of a base model (JSON on stdout)")
    quality.add_argument("model", type=Path)
    quality.add_argument("--oracles", type=Path, required=True)
    quality.add_argument("--per-pair", type=int, help="samples per pair (default: toyworld.quality.Sampling's)")
    quality.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: Sampling's)")
    quality.add_argument("--sample-steps", type=int, help="denoising steps (default: Sampling's)")
    figures = sub.add_parser("figures", help="confusion-matrix PNGs from the oracle and base-model reports")
    figures.add_argument("data_dir", type=Path)
    probe = sub.add_parser("probe", help="one-block LoRA probe: which blocks carry shape and which style")
    probe.add_argument("out", type=Path)
    probe.add_argument("--model", type=Path, default=Path("data/toy/base_model"))
    probe.add_argument("--oracles", type=Path, default=Path("data/toy/oracles"))
    probe.add_argument("--tier", default="novel", choices=("bind", "novel"))
    probe.add_argument("--images", type=int, default=4, help="N images spread over the tier")
    probe.add_argument("--steps", type=int, default=300)
    probe.add_argument("--rank", type=int, default=8)
    grid = sub.add_parser("sweep", help="fidelity and leakage against LoRA rank and training steps")
    grid.add_argument("out", type=Path)
    grid.add_argument("--model", type=Path, default=Path("data/toy/base_model"))
    grid.add_argument("--oracles", type=Path, default=Path("data/toy/oracles"))
    grid.add_argument("--method", default="unziplora")
    grid.add_argument("--tier", default="bind", choices=("bind", "novel"))
    grid.add_argument("--images", type=int, default=4, help="N images spread over the tier")
    grid.add_argument("--ranks", help="comma-separated (default: SweepConfig's)")
    grid.add_argument("--steps", help="comma-separated (default: SweepConfig's)")
    grid.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="LoRA learning rate (default 1e-3: at UnZipLoRA's 5e-5 nothing is learned on the toy model)",
    )
    grid.add_argument("--content-blocks", help="comma-separated block prefixes (default: the method's own)")
    grid.add_argument("--style-blocks", help="comma-separated block prefixes (default: the method's own)")
    bench = sub.add_parser("benchmark", help="render the benchmark images and write their sheet (images.tsv)")
    bench.add_argument("out", type=Path)
    bench.add_argument("--per-pair", type=int, default=2, help="renders per (shape, style) pair")
    for p in (base, oracles, quality, probe, grid):
        p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
        p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except ValueError as err:  # bad input: one line, no traceback
        sys.exit(f"error: {err}")


def _atlas(args) -> None:
    from toyworld.render import atlas

    sheet = atlas(seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.resize((sheet.width * args.scale, sheet.height * args.scale), Image.NEAREST).save(args.out)
    print(f"wrote {args.out} ({sheet.width // 64} styles × {sheet.height // 64} shapes)")


def _given(**values) -> dict:
    """The values that were given (not None)."""
    return {k: v for k, v in values.items() if v is not None}


def _overrides(config, **values):
    return dataclasses.replace(config, **_given(**values))


def _base_model(args) -> None:
    from plumbing.devices import resolve_device
    from toyworld.build import build_base_model, quality_summary
    from toyworld.pretrain import Pretraining

    config = _overrides(Pretraining(seed=args.seed), unet_steps=args.unet_steps, vae_steps=args.vae_steps,
                        images=args.images)  # fmt: skip
    record = build_base_model(args.out, config, resolve_device(args.device), args.oracles)
    print(f"wrote {args.out}: {record['parameters']['unet'] / 1e6:.2f} M-parameter UNet, "
          f"{record['seconds']['total'] / 60:.1f} min on {record['device']}")  # fmt: skip
    if "quality" in record:
        print(quality_summary(record["quality"]))


def _oracles(args) -> None:
    from plumbing.devices import resolve_device
    from toyworld.oracles import OracleTraining, build_oracles
    from unziplora.pipelines import load_pipeline

    device = resolve_device(args.device)
    vae = load_pipeline(str(args.vae)).vae.to(device) if args.vae else None
    config = _overrides(OracleTraining(seed=args.seed), images=args.images, steps=args.steps)
    report = build_oracles(args.out, config, vae, device=device)
    for factor, result in report["oracles"].items():
        print(f"{factor}: test accuracy {result['accuracy']:.4f} ({result['train_s']} s)")


def _quality(args) -> None:
    from plumbing.devices import resolve_device
    from toyworld.build import load_oracles, quality_summary
    from toyworld.quality import Sampling, generation_quality
    from unziplora.pipelines import load_pipeline

    pipe = load_pipeline(str(args.model))
    sampling = _overrides(Sampling(seed=args.seed), per_pair=args.per_pair, guidance_scale=args.guidance,
                          steps=args.sample_steps)  # fmt: skip
    report = generation_quality(pipe, load_oracles(args.oracles), resolve_device(args.device), sampling)
    print(json.dumps(report))
    print(quality_summary(report), file=sys.stderr)


def _probe(args) -> None:
    from plumbing.devices import resolve_device
    from toyworld.benchmark import benchmark_images, spread
    from toyworld.build import load_oracles
    from toyworld.probe import ProbeConfig, run_probe
    from unziplora.pipelines import load_pipeline

    items = spread(benchmark_images(args.tier), args.images)
    config = ProbeConfig(steps=args.steps, rank=args.rank, seed=args.seed)
    pipe = load_pipeline(str(args.model))
    for row in run_probe(args.out, pipe, items, load_oracles(args.oracles), config, resolve_device(args.device)):
        print(f"{row['block']:28s} shape {row['shape_fidelity']:.2f}  style {row['style_fidelity']:.2f}")


def _sweep(args) -> None:
    from plumbing.devices import resolve_device
    from toyworld.benchmark import benchmark_images, spread
    from toyworld.build import load_oracles
    from toyworld.sweep import SweepConfig, run_sweep
    from unziplora.config import TrainConfig
    from unziplora.pipelines import load_pipeline

    def ints(text: str | None) -> tuple[int, ...] | None:
        return tuple(int(v) for v in text.split(",")) if text else None

    def names(text: str | None) -> tuple[str, ...] | None:
        return tuple(v.strip() for v in text.split(",")) if text else None

    blocks = _given(content=names(args.content_blocks), style=names(args.style_blocks))
    train = TrainConfig.for_method(args.method, seed=args.seed, lora={"lr": args.lr}, blocks=blocks)
    config = _overrides(SweepConfig(train=train), ranks=ints(args.ranks), steps=ints(args.steps))
    items = spread(benchmark_images(args.tier), args.images)
    pipe = load_pipeline(str(args.model))
    for row in run_sweep(args.out, pipe, items, load_oracles(args.oracles), config, resolve_device(args.device)):
        print(f"rank {row['rank']:3d} steps {row['steps']:4d}: content {row['content_fidelity']:.2f} "
              f"style {row['style_fidelity']:.2f} joint {row['joint_fidelity']:.2f}")  # fmt: skip


def _figures(args) -> None:
    from toyworld.figures import instrument_figures

    for path in instrument_figures(args.data_dir):
        print(f"wrote {path}")


def _benchmark(args) -> None:
    from toyworld.benchmark import write_sheet

    print(f"wrote {write_sheet(args.out, args.per_pair)}")


COMMANDS = {
    "benchmark": _benchmark,
    "probe": _probe,
    "sweep": _sweep,
    "figures": _figures,
    "atlas": _atlas,
    "base-model": _base_model,
    "oracles": _oracles,
    "quality": _quality,
}

if __name__ == "__main__":
    main()
