"""Where each method's fidelity saturates: one step sweep per method (`toyworld.sweep` at the toy preset's rank, lr
and blocks), side by side, with the fewest training steps that come within a tolerance of the method's best.

The toy world's step counts are ours, not the paper's; this is what the toy preset's 200 steps rest on.

    write_saturation("data/toy/step_sweep", {"unziplora": Path("data/toy/step_sweep/unziplora"), ...})
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

#: The fidelity columns of a sweep (toyworld.sweep.measure) whose saturation is reported, with their LoRAs.
FIDELITY = {"content_fidelity": "content LoRA", "style_fidelity": "style LoRA", "joint_fidelity": "both LoRAs"}
#: The step counts of the sweep (rule toy_step_sweep): the toy preset's 200 in the middle of a doubling ladder.
STEPS = (25, 50, 100, 200, 400)
#: Within this of the best mean counts as saturated: about one standard error of a mean of 16 yes/no samples
#: (4 images × 4 samples) near 0.5.
TOLERANCE = 0.1


def saturation_table(means: dict[str, pd.DataFrame], tolerance: float = TOLERANCE) -> pd.DataFrame:
    """One row per (method, fidelity): the best mean over the sweep and its steps, the fewest steps within
    `tolerance` of it (`saturates_at`), and whether the best is still at the longest run (`rising`: the sweep may
    not have reached the plateau)."""
    rows = []
    for method, mean in means.items():
        mean = mean.sort_values("steps")
        for column in FIDELITY:
            best = mean[column].max()
            best_steps = int(mean.loc[mean[column].idxmax(), "steps"])
            reached = int(mean.loc[mean[column] >= best - tolerance, "steps"].min())
            longest = int(mean["steps"].max())
            rows.append({"method": method, "fidelity": column, "best": round(float(best), 4), "best_steps": best_steps,
                         "saturates_at": reached, "longest": longest,
                         "rising": best_steps == longest and reached == best_steps})  # fmt: skip
    return pd.DataFrame(rows)


def saturation_figure(means: dict[str, pd.DataFrame], out: Path, title: str = "") -> Path:
    """Fidelity against training steps, one panel per LoRA, one line per method."""
    fig, axes = plt.subplots(1, len(FIDELITY), figsize=(12, 3.6), sharey=True)
    for ax, (column, name) in zip(axes, FIDELITY.items(), strict=True):
        for k, (method, mean) in enumerate(means.items()):
            mean = mean.sort_values("steps")
            ax.plot(mean["steps"], mean[column], "o-", color=plt.cm.tab10(k), label=method)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("training steps")
        ax.set_title(f"{name}: {column.replace('_', ' ')}", fontsize=8)
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("P(oracle)")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def write_saturation(out_dir: str | Path, sweeps: dict[str, Path], tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Read each method's `sweep_mean.csv` (one rank) and write `steps.csv` (every method's means), `saturation.csv`
    and `saturation.png` into `out_dir`, atomically."""
    from unziplora.records import staged_outputs

    means = {}
    for method, folder in sweeps.items():
        path = Path(folder) / "sweep_mean.csv"
        if not path.is_file():
            raise ValueError(f"no step sweep of {method} at {path}; run `snakemake toy_step_sweep` first")
        mean = pd.read_csv(path)
        if mean["rank"].nunique() != 1:
            raise ValueError(f"{path} sweeps {mean['rank'].nunique()} ranks; a step sweep has one (--ranks R)")
        means[method] = mean
    table = saturation_table(means, tolerance)
    with staged_outputs(Path(out_dir)) as stage:
        pd.concat([m.assign(method=k) for k, m in means.items()]).to_csv(stage / "steps.csv", index=False)
        table.to_csv(stage / "saturation.csv", index=False)
        ranks = sorted({int(m["rank"].iloc[0]) for m in means.values()})
        saturation_figure(means, stage / "saturation.png", title=f"fidelity against steps (rank {ranks})")
    return table
