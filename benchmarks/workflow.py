"""Workflow benchmarks: planning time of a preset's dry run, and per-rule job cost of a finished run.

    python benchmarks/workflow.py plan --preset paper            # seconds to plan the whole DAG (median of 3)
    python benchmarks/workflow.py jobs --preset tiny            # per rule: jobs, wall s, CPU s, peak RSS
    python benchmarks/workflow.py jobs --preset toy-full --by-method   # the same per (rule, method), with totals
    python benchmarks/workflow.py jobs --preset toy-full --by-method --methods unziplora   # finished methods only
    python benchmarks/workflow.py provenance --preset toy-full --scores data/toy/full/scores --code "commit 52d218c"

`provenance` writes, beside committed score files kept without their run folders (`<method>.csv.gz`), the record a
score job writes (`<method>.json`: the settings the preset resolves for every scored run, and `--code`, what is known
of the code), so that their tables rebuild and are checked like any others. Run it only with the config they ran on.

`jobs` reads the `benchmark:` files Snakemake wrote under results/<preset>/benchmarks/. On the tiny preset the
work inside each job is tiny, so its per-rule wall time is the job overhead (interpreter start, imports, model
loading); on a real preset it is the cost of the work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PER_METHOD = {"train", "sample", "recombine", "score"}  # benchmark folders whose next path part is the method


def plan_seconds(preset: str, repeats: int = 3) -> list[float]:
    """Wall seconds of `snakemake --dry-run` for `preset`, `repeats` times."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "snakemake", "--dry-run", "--quiet", "--config", f"preset={preset}"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - t0)
    return times


def job_table(
    preset: str, by_method: bool = False, root: Path = ROOT, methods: list[str] | None = None
) -> pd.DataFrame:
    """Per rule (and per method with `by_method`): number of jobs, total, mean and max wall seconds, mean CPU
    seconds, max peak RSS (MiB). `root` is the checkout the preset ran in; `methods` keeps only those methods' jobs
    (and the jobs of no method, e.g. image preparation)."""
    bench = root / "results" / preset / "benchmarks"
    rows = []
    for tsv in sorted(bench.rglob("*.tsv")):
        parts = tsv.relative_to(bench).parts  # <rule>/<method>/..., score/<method>.tsv, <rule>.tsv, ...
        method = parts[1].removesuffix(".tsv") if parts[0] in PER_METHOD else ""
        if methods is not None and method and method not in methods:
            continue
        frame = pd.read_csv(tsv, sep="\t")
        rows.append(
            {
                "rule": parts[0].removesuffix(".tsv"),
                "method": method,
                "s": frame["s"].iloc[0],
                "cpu_s": frame["cpu_time"].iloc[0],
                "rss": frame["max_rss"].iloc[0],
            }
        )
    if not rows:
        raise SystemExit(f"no benchmark files under {bench}; run the preset first")
    return (
        pd.DataFrame(rows)
        .groupby(["rule", "method"] if by_method else "rule")
        .agg(
            jobs=("s", "size"),
            total_s=("s", "sum"),
            mean_s=("s", "mean"),
            max_s=("s", "max"),
            mean_cpu_s=("cpu_s", "mean"),
            max_rss_mib=("rss", "max"),
        )
        .round(2)
        .sort_values("total_s", ascending=False)
    )


def findings_provenance(preset: str, scores_dir: Path, code: str) -> list[Path]:
    """Write `<method>.json` beside each `<method>.csv.gz` of `scores_dir`: a score job's record (workflow/scripts/
    score.py) reconstructed from the settings `preset` resolves now for each scored (image, training seed), with
    `code` for every stage and the CPU's precisions (the toy presets run on the CPU: fp32 training and sampling)."""
    sys.path.insert(0, str(ROOT / "workflow" / "scripts"))
    from _config import resolve_config
    from _provenance import run_settings, settings_hash
    from _settings import expected_settings

    config = resolve_config({}, ROOT, preset)
    if config["device"] != "cpu":
        raise SystemExit(f"preset {preset} runs on {config['device']}; this writes the CPU's precisions only")
    sheet = pd.read_csv(ROOT / config["sheet"], sep="\t", dtype=str, keep_default_na=False).set_index("id")
    rows = {i: {"content": r["content"], "style": r["style"], "train_file": r["train_file"], "sha256": r["sha256"]}
            for i, r in sheet.iterrows()}  # fmt: skip
    written = []
    for path in sorted(scores_dir.glob("*.csv.gz")):
        method = path.name.removesuffix(".csv.gz")
        expected = expected_settings(config, rows, [method])
        trained_at = ["fp32 on cpu"] if expected["train"][method].get("train") else []  # the base model: none
        frame = pd.read_csv(path, usecols=["task", "content_image", "style_image", "train_seed"]).drop_duplicates()
        known, items = {settings_hash(expected["sample"]): expected["sample"]}, []
        for row in frame.itertuples():
            images = [row.content_image] if row.task == "decomposition" else [row.content_image, row.style_image]
            runs = [run_settings(expected, method, i, row.train_seed) for i in images]
            known |= {settings_hash(r): r for r in runs}
            items.append(
                {
                    "manifest": "not kept",
                    "task": row.task,
                    "content_image": row.content_image,
                    "style_image": row.style_image,
                    "train_seed": int(row.train_seed),
                    "sample": settings_hash(expected["sample"]),
                    "runs": [settings_hash(r) for r in runs],
                    "code": {"sample": code, "train": [code]},
                    "effective": {"sample": "float32 on cpu", "train": trained_at},
                }
            )
        origin = f"by benchmarks/workflow.py provenance from the {preset} preset, not by a score job"
        record = {"method": method, "metric": expected["metric"], "code": code, "settings": known, "items": items,
                  "reconstructed": origin}  # fmt: skip
        out = path.with_name(f"{method}.json")
        out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        written.append(out)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["plan", "jobs", "provenance"])
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--by-method", action="store_true", help="jobs: one row per (rule, method)")
    parser.add_argument("--root", type=Path, default=ROOT, help="jobs: the checkout the preset ran in")
    parser.add_argument("--methods", type=lambda v: v.split(","), help="jobs: only these methods (comma-separated)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--scores", type=Path, help="provenance: the folder of committed <method>.csv.gz files")
    parser.add_argument("--code", default="not recorded", help="provenance: what is known of the code (a commit)")
    args = parser.parse_args()
    if args.what == "provenance":
        for path in findings_provenance(args.preset, args.scores, args.code):
            print(f"wrote {path}")
        return
    if args.what == "plan":
        times = plan_seconds(args.preset)
        result = {"preset": args.preset, "dry_run_s": times, "median_s": statistics.median(times)}
        print(f"dry run of {args.preset}: median {result['median_s']:.2f} s over {len(times)} runs")
    else:
        table = job_table(args.preset, args.by_method, args.root, args.methods)
        flat = table.reset_index()  # rule (and method) as columns: a grouped index prints as tuples
        print(flat.to_markdown(index=False) if hasattr(flat, "to_markdown") else flat.to_string(index=False))
        print(f"\n{int(table['jobs'].sum())} jobs, {table['total_s'].sum() / 3600:.2f} h of job wall time in all.")
        result = {"preset": args.preset, "rules": flat.to_dict("records")}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
