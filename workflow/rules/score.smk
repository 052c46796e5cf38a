# Scoring: all images of one method in one job (models loaded once), then one table of every score.


rule score:
    """Every generated image of one method against its reference(s), with the preset's metrics."""
    input:
        manifests=lambda wc: samples_of(wc.method),
        provenance=lambda wc: [posixpath.join(posixpath.dirname(m), "provenance.json") for m in samples_of(wc.method)],
        images=expand(rules.prepare_image.output.png, preset=PRESET, image=ALL_IMAGES),
        weights=metric_weight_files,
    output:
        scores=under(R, "scores/{method}.csv"),
        provenance=under(R, "scores/{method}.json"),
    params:
        code=CODE["score"],
        settings=METRIC_SETTINGS,
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
    params:
        code=CODE["aggregate"],
    log:
        under(LOGS, "aggregate.log"),
    benchmark:
        under(BENCH, "aggregate.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/aggregate.py"
