"""Steps-to-quality of the toy base model: pretrain the VAE, train the oracles on renders and VAE reconstructions, then
train one UNet per requested width and measure oracle fidelity every N steps. Prints a table; writes the last
pipeline, the oracles and a JSON report under --out.

    python benchmarks/toy_pretrain.py --out /tmp/toy --unet-steps 4000 --checkpoint-every 1000 --unet 32,64,64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import torch
from diffusers import StableDiffusionXLPipeline

from metrics.oracle import load_oracle
from plumbing.devices import device_name
from plumbing.records import versions
from toyworld.basemodel import new_unet
from toyworld.oracles import OracleTraining, build_oracles
from toyworld.pretrain import Pretraining, pretrain_unet, pretrain_vae
from toyworld.quality import Sampling, generation_quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=Pretraining.images)
    parser.add_argument("--vae-steps", type=int, default=Pretraining.vae_steps)
    parser.add_argument("--unet-steps", type=int, default=Pretraining.unet_steps)
    parser.add_argument("--batch", type=int, default=Pretraining.unet_batch_size)
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--unet", action="append", help="UNet block widths, e.g. 32,64,64 (repeatable)")
    parser.add_argument("--oracles", type=Path, help="use these trained oracles instead of training them")
    parser.add_argument("--oracle-images", type=int, default=OracleTraining.images)
    parser.add_argument("--oracle-steps", type=int, default=OracleTraining.steps)
    parser.add_argument("--per-pair", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=Sampling.guidance_scale)
    args = parser.parse_args()
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    widths = [tuple(int(w) for w in u.split(",")) for u in (args.unet or ["64,128,192"])]
    config = Pretraining(images=args.images, vae_steps=args.vae_steps, unet_steps=args.unet_steps,
                         unet_batch_size=args.batch, checkpoint_every=args.checkpoint_every)  # fmt: skip
    report = {"device": device_name(device), "versions": versions(), "runs": {}}
    clock = time.perf_counter()
    pipe, data, record = pretrain_vae(config, device, Path(tempfile.mkdtemp()) / "tokenizer")
    report["vae_s"] = round(time.perf_counter() - clock, 1)
    report["vae_loss_last"] = sum(record["vae_loss"][-50:]) / len(record["vae_loss"][-50:])
    print(f"VAE {report['vae_s']} s", flush=True)
    clock = time.perf_counter()
    oracle_dir = args.oracles or args.out / "oracles"
    if args.oracles is None:
        oracle_config = OracleTraining(images=args.oracle_images, steps=args.oracle_steps)
        report["oracles"] = build_oracles(oracle_dir, oracle_config, pipe.vae.to(device), device=device)
    else:
        report["oracles"] = json.loads((oracle_dir / "report.json").read_text())
    report["oracles_s"] = round(time.perf_counter() - clock, 1)
    oracles = {f: load_oracle(oracle_dir / f"{f}.safetensors") for f in ("shape", "style")}
    print(f"VAE {report['vae_s']} s (L1 {report['vae_loss_last']:.4f}); oracles {report['oracles_s']} s:",
          {f: r["accuracy"] for f, r in report["oracles"]["oracles"].items()}, flush=True)  # fmt: skip
    sampling = Sampling(per_pair=args.per_pair, guidance_scale=args.guidance)
    for width in widths:
        shape = dataclasses.replace(config.shape, unet_channels=width, unet_heads=tuple(max(1, w // 32) for w in width))
        run_pipe = StableDiffusionXLPipeline(**{**pipe.components, "unet": new_unet(shape)})
        run = {"parameters": sum(p.numel() for p in run_pipe.unet.parameters()), "checkpoints": []}
        report["runs"][",".join(map(str, width))] = run
        start = time.perf_counter()

        def checkpoint(step, ema, run=run, run_pipe=run_pipe, start=start, width=width):
            seconds = time.perf_counter() - start
            probe = StableDiffusionXLPipeline(**{**run_pipe.components, "unet": ema})
            quality = generation_quality(probe, oracles, device, sampling, progress=False)
            row = {"step": step, "train_s": round(seconds, 1), **{g: quality[g]["both"] for g in ("seen", "held_out")},
                   "seen_shape": quality["seen"]["shape"], "seen_style": quality["seen"]["style"]}  # fmt: skip
            run["checkpoints"].append(row)
            (args.out / "report.json").write_text(json.dumps(report, indent=1))
            print(f"unet {width} ({run['parameters'] / 1e6:.2f} M) {row}", flush=True)

        run_pipe, record = pretrain_unet(run_pipe, data, dict(record), config, device, on_checkpoint=checkpoint)
        run["unet_s"] = record["seconds"]["unet"]
        run_pipe.save_pretrained(args.out / ("model_" + "_".join(map(str, width))), safe_serialization=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "oracles"}, indent=1))


if __name__ == "__main__":
    main()
