"""Where each method's fidelity saturates: one step sweep per method (`toyworld.sweep` at the toy preset's rank, lr
and blocks), side by side, with the fewest training steps that come within a tolerance of the method's best.

The toy world's step counts are ours, not the paper's; this is what the toy preset's 200 steps rest on.

    write_saturation("data/toy/step_sweep", {"unziplora": Path("data/toy/step_sweep/unziplora"), ...})
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: The fidelity columns of a sweep (toyworld.sweep.measure) whose saturation is reported.
FIDELITY = ("content_fidelity", "style_fidelity", "joint_fidelity")
#: The step counts of the sweep (rule toy_step_sweep): the toy preset's 200 in the middle of a doubling ladder.
STEPS = (25, 50, 100, 200, 400)
#: Within this of the best mean counts as saturated: about one standard error of a mean of 16 yes/no samples
#: (4 images × 4 samples) near 0.5.
TOLERANCE = 0.1


def saturation_table(means: dict[str, pd.DataFrame], tolerance: float = TOLERANCE) -> pd.DataFrame:
    """One row per (method, fidelity): the best mean over the sweep and its steps, the fewest steps within
    `tolerance` of it (`saturates_at`), and `rising`: only the longest run comes within the tolerance of the best, so
    the sweep may not have reached the plateau."""
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
                         "rising": reached == longest})  # fmt: skip
    return pd.DataFrame(rows)


def write_saturation(out_dir: str | Path, sweeps: dict[str, Path], tolerance: float = TOLERANCE) -> pd.DataFrame:
    """Read each method's `sweep_mean.csv` (one rank) and write `steps.csv` (every method's means), `saturation.csv`
    and `saturation.png` into `out_dir`, atomically."""
    from plumbing.records import staged_outputs
    from toyworld.figures import sweep_figure

    means = {}
    for method, folder in sweeps.items():
        path = Path(folder) / "sweep_mean.csv"
        if not path.is_file():
            raise ValueError(f"no step sweep of {method} at {path}; run `python -m toyworld sweep {folder} --method "
                             f"{method} --ranks R` (or rule toy_step_sweep_method) first")  # fmt: skip
        mean = pd.read_csv(path)
        if mean["rank"].nunique() != 1:
            raise ValueError(f"{path} sweeps {mean['rank'].nunique()} ranks; a step sweep has one (--ranks R)")
        means[method] = mean
    table = saturation_table(means, tolerance)
    with staged_outputs(Path(out_dir)) as stage:
        steps = pd.concat([m.assign(method=k) for k, m in means.items()])
        steps.to_csv(stage / "steps.csv", index=False)
        table.to_csv(stage / "saturation.csv", index=False)
        title = f"fidelity (solid) and leakage (dashed) against steps, rank {sorted(set(steps['rank']))}"
        sweep_figure(steps, stage / "saturation.png", title=title, by="method")
    return table
