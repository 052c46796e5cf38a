# Scoring: all images of one method in one job (models loaded once), then one table of every score.


rule score:
    """Every generated image of one method against its reference(s), with the preset's metrics."""
    input:
        manifests=lambda wc: samples_of(wc.method),
        images=expand(rules.prepare_image.output.png, preset=PRESET, image=ALL_IMAGES),
        weights=metric_weight_files,
    output:
        under(R, "scores/{method}.csv"),
    params:
        code=CODE["score"],
    threads: config["threads"]["score"]
    resources:
        **job_resources("score"),
    log:
        under(LOGS, "score/{method}.log"),
    benchmark:
        under(BENCH, "score/{method}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/score.py"


rule aggregate:
    """One CSV of every score row of every method."""
    input:
        expand(under(R, "scores/{method}.csv"), preset=PRESET, method=METHOD_KEYS),
    output:
        under(R, "scores.csv"),
    log:
        under(LOGS, "aggregate.log"),
    benchmark:
        under(BENCH, "aggregate.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/aggregate.py"
