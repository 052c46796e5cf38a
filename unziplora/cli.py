"""Command line: `unziplora decompose | generate | methods | demo` (also `python -m unziplora`).

Every bad input ends in one line on stderr (`unziplora: error: <problem>; <fix>`), a non-zero exit and no output
folder left behind by the failed command.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from unziplora.methods import METHODS
from unziplora.sdxl import SDXL_BASE_ID

EXAMPLES = """examples:
  unziplora decompose sketch_cat.jpg --content cat --style sketch --out runs/sketch_cat
  unziplora generate --lora runs/sketch_cat --prompt "A monadikos cat on a skateboard in sketch style" --out img/cat
  unziplora generate --lora runs/sketch_cat --lora runs/watercolor_dog \\
      --prompt "A monadikos cat in watercolor style" --out img/cat_in_watercolor
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand (its --help is the CLI's reference)."""
    parser = argparse.ArgumentParser(
        prog="unziplora",
        description="Content and style LoRAs for SDXL from a single image (UnZipLoRA and its baselines).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("methods", help="list the registered methods (keys for --method and the workflow)")

    dec = sub.add_parser(
        "decompose",
        help="train a method on one image: writes content.safetensors, style.safetensors and run.json",
        description="Train a method on one image and write its content and style LoRA files and run.json into "
        "--out. Prompts follow the official template: 'A monadikos <content> in <style> style'.",
    )
    dec.add_argument("image", type=Path, metavar="IMAGE", help="the input image (PNG, JPEG, ...; any colour mode)")
    dec.add_argument("--content", required=True, help="the subject's class noun, e.g. 'cat'")
    dec.add_argument("--style", required=True, help="a short style description, e.g. 'sketch'")
    dec.add_argument("--out", type=Path, required=True, help="output folder; must not hold results already")
    dec.add_argument(
        "--method", default="unziplora", help="registry key (see `unziplora methods`; default: %(default)s)"
    )
    dec.add_argument(
        "--model", default=SDXL_BASE_ID, help="base pipeline: hub id or local folder (default: %(default)s)"
    )
    dec.add_argument(
        "--steps", type=int, help="training steps per run (default: the method's own: 600, 1000 for baselines)"
    )
    dec.add_argument(
        "--resolution", type=int, default=1024, help="training resolution in pixels (default: %(default)s)"
    )
    dec.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    dec.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")

    gen = sub.add_parser(
        "generate",
        help="render images from one run folder, or content of one run with style of another",
        description="Render images from the LoRA folder(s) written by `decompose`. With two --lora folders the "
        "content LoRA comes from the first and the style LoRA from the second (cross-image recombination).",
    )
    gen.add_argument(
        "--lora", type=Path, action="append", required=True, metavar="DIR", help="a run folder (give 1 or 2)"
    )
    gen.add_argument("--prompt", required=True, help="the prompt, e.g. 'A monadikos cat on a beach in sketch style'")
    gen.add_argument(
        "--out", type=Path, required=True, help="output folder for the PNGs; must not hold results already"
    )
    gen.add_argument(
        "--num", type=int, default=4, help="number of images; image i uses seed S+i (default: %(default)s)"
    )
    gen.add_argument("--seed", type=int, default=0, help="seed S of the first image (default: %(default)s)")
    gen.add_argument(
        "--kind",
        choices=["combined", "content", "style"],
        default="combined",
        help="content LoRA alone, style LoRA alone, or both (default: %(default)s)",
    )
    gen.add_argument(
        "--mode",
        choices=["auto", "official", "addition"],
        default="auto",
        help="combined images: official = three prompts, mergers, DDPM (the official code); addition = plain sum "
        "of the two LoRA files; auto = official for prompt-separated methods, else addition (default: %(default)s)",
    )
    gen.add_argument(
        "--content-prompt", help="official mode: the content-only prompt (default: --prompt minus the style phrase)"
    )
    gen.add_argument("--style-prompt", help="official mode: the style-only prompt (default: --prompt minus the token)")
    gen.add_argument("--steps", type=int, default=50, help="sampling steps (default: %(default)s)")
    gen.add_argument(
        "--guidance", type=float, default=5.0, help="classifier-free guidance scale (default: %(default)s)"
    )
    gen.add_argument(
        "--sampler", choices=["auto", "euler", "ddpm"], default="auto", help="auto = Euler; DDPM in official mode"
    )
    gen.add_argument("--resolution", type=int, default=1024, help="image side in pixels (default: %(default)s)")
    gen.add_argument(
        "--vae-precision",
        choices=["fp32", "model"],
        default="fp32",
        help="VAE decoding precision: fp32 (SDXL's VAE overflows in fp16) or the model's dtype (default: %(default)s)",
    )
    gen.add_argument("--batch-size", type=int, default=4, help="images per pipeline call (default: %(default)s)")
    gen.add_argument(
        "--dtype", choices=["auto", "fp32", "fp16", "bf16"], default="auto", help="auto = fp16 on CUDA, fp32 on CPU"
    )
    gen.add_argument("--model", help="base pipeline: hub id or local folder (default: the one the run was trained on)")
    gen.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="default: cuda if available")

    demo = sub.add_parser("demo", help="train every method on a synthetic image with the tiny pipeline (CPU)")
    demo.add_argument("--out", type=Path, default=Path("results/demo"), help="output folder (default: %(default)s)")
    demo.add_argument("--steps", type=int, default=60, help="training steps per method (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `unziplora` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "methods":
        width = max(map(len, METHODS))
        for key, spec in METHODS.items():
            print(f"{key:{width}s} {spec.label:7s} {spec.summary}")
        return 0
    _quiet_libraries()
    out = args.out
    created = not out.exists()
    try:
        if args.command == "decompose":
            return _decompose(args)
        if args.command == "generate":
            return _generate(args)
        return _demo(args)
    except (ValueError, OSError, RuntimeError) as err:
        if created and out.is_dir() and not any(out.iterdir()):
            shutil.rmtree(out)  # leave no empty folder behind a failed command
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"unziplora: error: {message}", file=sys.stderr)
        return 2 if isinstance(err, ValueError | FileNotFoundError) else 1


def _quiet_libraries() -> None:
    """Library chatter (loading bars, advisory warnings) off: the CLI prints its own progress and one-line errors."""
    import warnings

    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()
    warnings.filterwarnings("ignore", message="Already found a `peft_config`")  # two adapters, on purpose


def _fresh_output(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} is a file; pass a folder for --out")
    if out.is_dir() and any(out.iterdir()):
        names = sorted(p.name for p in out.iterdir())[:3]
        raise ValueError(
            f"output folder {out} already holds results ({', '.join(names)}, ...); pass a new --out or remove it"
        )


def _decompose(args) -> int:
    from plumbing.devices import resolve_device
    from unziplora.config import PromptSet, TrainConfig
    from unziplora.images import load_image
    from unziplora.methods import get_method
    from unziplora.pipelines import load_pipeline
    from unziplora.train import train

    # Everything cheap is checked before the model loads, so a bad input fails in a second.
    _fresh_output(args.out)
    get_method(args.method)
    prompts = PromptSet.from_names(args.content, args.style)
    load_image(args.image)
    overrides = {"resolution": args.resolution, "seed": args.seed, "device": args.device}
    if args.steps is not None:
        overrides["steps"] = args.steps
    config = TrainConfig.for_method(args.method, **overrides)
    resolve_device(config.device)
    pipe = load_pipeline(args.model)
    model = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model  # for `generate`
    record = train(pipe, args.image, prompts, config, args.out, model=model)
    files = ", ".join([*record["files"].values(), "run.json"])
    steps, seconds = record["cost"]["steps_per_image"], record["cost"]["train_s_per_image"]
    print(f"{args.method}: wrote {files} to {args.out} ({steps} steps, {seconds:.1f} s)")
    return 0


def _generate(args) -> int:
    from plumbing.devices import resolve_device
    from unziplora.config import SampleConfig
    from unziplora.generate import generate, load_run, official_prompts, resolve_mode
    from unziplora.pipelines import load_pipeline

    _fresh_output(args.out)
    if len(args.lora) > 2:
        raise ValueError(
            f"pass at most two --lora folders (content of the first, style of the second), got {len(args.lora)}"
        )
    if not args.prompt.strip():
        raise ValueError("the prompt is empty; pass --prompt, e.g. 'A monadikos cat on a beach in sketch style'")
    runs = [load_run(d) for d in args.lora]
    config = SampleConfig(
        kind=args.kind,
        mode=args.mode,
        sampler=args.sampler,
        steps=args.steps,
        guidance_scale=args.guidance,
        resolution=args.resolution,
        num=args.num,
        seed=args.seed,
        batch_size=args.batch_size,
        dtype=args.dtype,
        vae_precision=args.vae_precision,
        device=args.device,
    )
    resolve_device(config.device)
    if config.kind == "combined" and resolve_mode(config, runs[0]) == "official":
        if not (args.content_prompt and args.style_prompt):
            official_prompts(args.prompt, runs[0], runs[-1])  # a prompt it cannot split fails before the model loads
    model = args.model or runs[0].record.get("model") or SDXL_BASE_ID
    pipe = load_pipeline(model)
    paths = generate(pipe, runs, args.prompt, config, args.out, args.content_prompt, args.style_prompt, model=model)
    print(f"wrote {len(paths)} image(s) and generate.json to {args.out}")
    return 0


def _demo(args) -> int:
    from unziplora.demo import run_demo  # heavy imports only when needed

    out = run_demo(args.out, steps=args.steps, seed=args.seed)
    print(f"wrote {out / 'grid.png'}, {out / 'summary.csv'} and one folder of LoRA files per method in {out}")
    return 0
