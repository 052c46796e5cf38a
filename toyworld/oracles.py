"""Training the toy world's oracles (`metrics.oracle.OracleNet`): one classifier for the shape, one for the style,
over every factor (known and novel), on seeded renders, and on VAE reconstructions of renders when a
`reconstruct` function is given (so the VAE's blur does not fool them on generated images).

    report = build_oracles("data/toy/oracles", OracleTraining())   # writes shape.safetensors, style.safetensors
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from metrics.oracle import OracleNet, save_oracle, to_tensor
from plumbing.records import write_json
from toyworld.pretrain import reconstruct
from toyworld.render import SHAPES, STYLES, render

FACTORS = {"shape": tuple(SHAPES), "style": tuple(STYLES)}
SEEDS_PER_SET = 10**6  # training set k renders seeds k·10⁶ …; test sets start at TEST_SEEDS: never the same image
TEST_SEEDS = 10**9


@dataclass(frozen=True)
class OracleTraining:
    """How the oracles are trained. Every random draw comes from `seed`."""

    images: int = 12000  # rendered once, ~1.7 ms each
    steps: int = 600  # 2 CPU cores: ~4 min per oracle; 100% on fresh renders, >= 99% on their reconstructions
    batch_size: int = 128
    lr: float = 3e-3
    width: int = 16
    seed: int = 0
    test_images: int = 2000
    reconstructed_fraction: float = 0.5  # of each batch, when a VAE is given
    reconstructed_images: int = 6000  # the first N training renders, round-tripped once through the VAE


def render_set(n: int, first_seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Renders with seeds `first_seed .. first_seed + n - 1`, factors drawn uniformly over every shape and style
    (from `first_seed`): (N, 64, 64, 3) uint8 and the labels as class indices."""
    rng = np.random.default_rng(first_seed)
    labels = {factor: rng.integers(len(names), size=n) for factor, names in FACTORS.items()}
    shapes, styles = FACTORS["shape"], FACTORS["style"]
    images = [
        np.asarray(render(shapes[s], styles[t], first_seed + i))
        for i, (s, t) in enumerate(zip(labels["shape"], labels["style"], strict=True))
    ]
    return np.stack(images), labels


def train_oracle(
    factor: str,
    images: np.ndarray,
    labels: np.ndarray,
    config: OracleTraining,
    reconstructions: np.ndarray | None = None,
    progress: bool = True,
    device: torch.device | str = "cpu",
) -> tuple[OracleNet, list[float]]:
    """One oracle trained with AdamW and a cosine schedule; returns the net (eval mode, CPU) and the loss per step.
    `reconstructions` (VAE round trips of the first len(reconstructions) `images`) fill a fixed share of every
    batch."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, len(factor)])
    net = OracleNet(FACTORS[factor], factor, config.width).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=config.steps, pct_start=0.1)
    target = torch.from_numpy(labels).long().to(device)
    losses = []
    net.train()
    for _ in tqdm(range(config.steps), desc=f"oracle {factor}", disable=not progress):
        index = rng.integers(len(images), size=config.batch_size)
        batch = to_tensor(images[index])
        if reconstructions is not None:
            k = int(config.batch_size * config.reconstructed_fraction)
            index[:k] = rng.integers(len(reconstructions), size=k)
            batch[:k] = to_tensor(reconstructions[index[:k]])
        loss = torch.nn.functional.cross_entropy(net(batch.to(device)), target[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    return net.cpu().eval(), losses


@torch.no_grad()
def evaluate(net: OracleNet, images: np.ndarray, labels: np.ndarray, batch_size: int = 500) -> dict:
    """Accuracy and the confusion matrix (rows: true class, columns: predicted), in class order."""
    net.eval()
    predicted = np.concatenate(
        [net(to_tensor(images[i : i + batch_size])).argmax(1).numpy()
         for i in range(0, len(images), batch_size)]
    )  # fmt: skip
    n = len(net.classes)
    confusion = np.zeros((n, n), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    return {"accuracy": float((predicted == labels).mean()), "classes": list(net.classes),
            "confusion": confusion.tolist()}  # fmt: skip


def build_oracles(out_dir: str | Path, config: OracleTraining, vae=None, progress: bool = True,
                  device: torch.device | str = "cpu") -> dict:  # fmt: skip
    """Render, train both oracles (on renders, and on `vae` reconstructions of them when a VAE is given), test them
    on fresh renders (and their reconstructions); write `{factor}.safetensors` and `report.json`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    images, labels = render_set(config.images, config.seed * SEEDS_PER_SET)
    test_images, test_labels = render_set(config.test_images, TEST_SEEDS + config.seed * SEEDS_PER_SET)
    tests = {"renders": test_images}
    recon = None
    if vae is not None:
        # The VAE round trip is deterministic (posterior mean), so a pool of renders is reconstructed once instead
        # of every batch: on a CPU the VAE costs ~15 ms an image, far more than an oracle step.
        recon = reconstructed_uint8(partial(reconstruct, vae), images[: config.reconstructed_images], progress)
        tests["reconstructions"] = reconstructed_uint8(partial(reconstruct, vae), test_images, progress=False)
    report = {"config": asdict(config), "data_s": round(time.perf_counter() - start, 1), "oracles": {}}
    for factor in FACTORS:
        t0 = time.perf_counter()
        net, losses = train_oracle(factor, images, labels[factor], config, recon, progress, device)
        result = {name: evaluate(net, imgs, test_labels[factor]) for name, imgs in tests.items()}
        result |= {"train_s": round(time.perf_counter() - t0, 1), "final_loss": float(np.mean(losses[-50:]))}
        result["accuracy"] = min(r["accuracy"] for r in (result[name] for name in tests))
        save_oracle(net, out / f"{factor}.safetensors", {"test_accuracy": f"{result['accuracy']:.4f}"})
        report["oracles"][factor] = result
    write_json(out / "report.json", report)
    return report


def reconstructed_uint8(recon: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, progress: bool = False,
                        batch_size: int = 250) -> np.ndarray:  # fmt: skip
    """VAE round trips of uint8 NHWC images, as uint8 NHWC (what a generated image looks like to an oracle)."""
    out = []
    for i in tqdm(range(0, len(images), batch_size), desc="reconstruct", disable=not progress):
        pixels = recon(to_tensor(images[i : i + batch_size]))
        out.append((pixels.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8))
    return np.concatenate(out)
