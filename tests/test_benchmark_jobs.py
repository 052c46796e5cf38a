"""benchmarks/workflow.py `jobs`: per-rule and per-method job cost read from Snakemake's benchmark files."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("bench_workflow", ROOT / "benchmarks" / "workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bench(root: Path, rel: str, seconds: float) -> None:
    path = root / "results" / "p" / "benchmarks" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{seconds}\t0:00:01\t100.0\t{seconds / 2}\n")


def test_jobs_grouped_by_rule_and_by_method(tmp_path):
    for rel, s in [
        ("train/m3/img_a/train0.tsv", 10.0),
        ("train/m3/img_b/train0.tsv", 30.0),
        ("train/db/img_a/train0.tsv", 5.0),
        ("score/m3.tsv", 2.0),
        ("prepare_image/img_a.tsv", 1.0),  # an image, not a method
        ("tables.tsv", 4.0),
    ]:
        _bench(tmp_path, rel, s)
    jobs = _module().job_table

    by_rule = jobs("p", root=tmp_path)
    assert by_rule.loc["train", "jobs"] == 3 and by_rule.loc["train", "total_s"] == 45.0
    assert by_rule.index[0] == "train"  # largest total first

    by_method = jobs("p", by_method=True, root=tmp_path)
    assert by_method.loc[("train", "m3"), "mean_s"] == 20.0
    assert by_method.loc[("score", "m3"), "total_s"] == 2.0
    assert by_method.loc[("prepare_image", ""), "jobs"] == 1
    assert by_method["total_s"].sum() == 52.0

    only_m3 = jobs("p", by_method=True, root=tmp_path, methods=["m3"])
    assert ("train", "db") not in only_m3.index
    assert only_m3.loc[("train", "m3"), "jobs"] == 2 and ("prepare_image", "") in only_m3.index


def test_jobs_without_a_run_names_the_fix(tmp_path):
    with pytest.raises(SystemExit, match="run the preset first"):
        _module().job_table("p", root=tmp_path)
