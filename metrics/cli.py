"""`python -m metrics list | fetch | score`: the registry, offline preparation of weights, and scoring files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from metrics.config import MetricConfig
from metrics.errors import MetricsError
from metrics.registry import METRICS, MODELS, PAPER_METRICS


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest:
            raise MetricsError(f"--{what} expects NAME=VALUE, got {value!r}")
        out[key] = rest
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m metrics", description="Scores of generated images.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the metrics and their models, with weights sources")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="MODEL=PATH",
        help="use a local weights file or folder for MODEL (repeatable)",
    )
    common.add_argument("--cache-dir", help="Hugging Face hub cache (default: the hub's own)")
    common.add_argument("--converted-dir", help="where the converted CSD file is kept (default: ~/.cache/unziplora)")
    common.add_argument("--offline", action="store_true", help="never contact the hub (also: HF_HUB_OFFLINE=1)")

    fetch = sub.add_parser("fetch", parents=[common], help="download, verify and convert weights for offline use")
    fetch.add_argument("--models", default=",".join(MODELS), help="comma-separated model names (default: all)")

    score = sub.add_parser("score", parents=[common], help="score generated images against reference image(s)")
    score.add_argument("images", nargs="+", type=Path, help="generated image files (PNG metadata fills the rows)")
    score.add_argument("--reference", type=Path, help="the input image (reference of every metric)")
    score.add_argument("--content-reference", type=Path, help="content reference (cross-image recombination)")
    score.add_argument("--style-reference", type=Path, help="style reference (cross-image recombination)")
    score.add_argument("--metrics", default=",".join(PAPER_METRICS), help="comma-separated (default: %(default)s)")
    score.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="METRIC=MODEL",
        help="score METRIC with another registry model, e.g. clip_i=ViT-L-14-quickgelu.openai",
    )
    score.add_argument("--out", type=Path, required=True, help="rows file: .csv or .parquet")
    score.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    score.add_argument("--batch-size", type=int, default=16, help="images per forward pass (default: %(default)s)")
    return parser  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m metrics`."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        for key, m in METRICS.items():
            note = f"  [{m.caveat}]" if m.caveat else ""
            print(f"{key:12s} {m.label:32s} {m.aspect:8s} {m.model}{note}")
        for name, spec in MODELS.items():
            w = spec.weights
            print(f"{name:28s} {w.repo}@{w.revision} {w.filename}")
        return 0
    from huggingface_hub.utils import logging as hub_logging

    hub_logging.set_verbosity_error()  # the hub's retry chatter would bury the one-line error below
    try:
        return _run(args)
    except (MetricsError, ValueError) as err:
        print(f"metrics: error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    config = MetricConfig(
        weights=_pairs(args.weights, "weights"),
        cache_dir=args.cache_dir,
        converted_dir=args.converted_dir,
        offline=args.offline,
        **({"device": args.device, "batch_size": args.batch_size, "models": _pairs(args.model, "model")}
           if args.command == "score" else {}),
    )  # fmt: skip
    if args.command == "fetch":
        from metrics.registry import get_model
        from metrics.weights import fetch

        for name in [n.strip() for n in args.models.split(",") if n.strip()]:
            resolved = fetch(get_model(name), config)
            print(f"{name}: {resolved.path} ({resolved.repo}@{resolved.revision})")
        return 0

    from metrics.score import score_images, write_rows

    if args.reference and (args.content_reference or args.style_reference):
        raise MetricsError("give either --reference or --content-reference/--style-reference, not both")
    if args.reference:
        reference = args.reference
    elif args.content_reference or args.style_reference:
        reference = {k: v for k, v in (("content", args.content_reference), ("style", args.style_reference)) if v}
    else:
        raise MetricsError("no reference image; pass --reference INPUT (or --content-reference/--style-reference)")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    rows = score_images(args.images, reference, metrics, config)
    out = write_rows(rows, args.out)
    # Means per image kind: the paper's columns are style metrics of style-only images and content metrics of
    # content-only images, so a mean over a mixed folder would not be one of them.
    means = rows.groupby(["kind", "metric"], sort=False)["value"].mean()
    parts = [f"{kind or '?'}/{metric} {value:.4f}" for (kind, metric), value in means.items()]
    print(f"wrote {len(rows)} rows to {out}; means: " + ", ".join(parts))
    return 0
