# The column probe (`snakemake --cores all column_probe`): for each column method of the selection (M2, M3 and their
# variants), image and training seed, train exactly as train_run would but only up to the last column-selection round,
# write no LoRA, and record every layer's kept fraction after each round (unziplora.column_probe). Then one table and
# one figure: how much of each block group the selection keeps, against the nominal round × columns.ratio.

PROBED = [m for m in METHOD_KEYS if METHODS[m].column_separation]
PROBE = under(R, "column_probe")


rule column_probe_run:
    """Probe one run's column selection (unziplora.column_probe.probe_columns)."""
    input:
        image=rules.prepare_image.output.png,
        model=model_input,
    output:
        under(PROBE, "{method}/{image}/train{train_seed}.json"),
    wildcard_constraints:
        method="|".join(PROBED) or "^$",
    params:
        code=CODE["column_probe"],
        settings=settings_of_run,
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
    log:
        under(LOGS, "column_probe/{method}/{image}/train{train_seed}.log"),
    benchmark:
        under(BENCH, "column_probe/{method}/{image}/train{train_seed}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/column_probe.py"


rule column_probe_summary:
    """Kept fractions per run, per method and round (CSV), and the figure."""
    input:
        expand(under(PROBE, "{method}/{image}/train{train_seed}.json"), method=PROBED, image=IMAGES, train_seed=SEEDS,
               allow_missing=True),  # fmt: skip
    output:
        layers=under(PROBE, "layers.csv"),
        runs=under(PROBE, "runs.csv"),
        summary=under(PROBE, "kept.csv"),
        figure=under(PROBE, "kept.png"),
    params:
        code=CODE["column_probe_summary"],
        preset=PRESET,
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "column_probe/summary.log"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/column_probe_summary.py"


rule column_probe:
    """Target: the column probe of every column method of the selection (table and figure under column_probe/)."""
    input:
        expand(rules.column_probe_summary.output, preset=PRESET),
