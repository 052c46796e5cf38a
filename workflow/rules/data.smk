# Inputs: the prepared images, and for the tiny preset the tiny pipeline and random metric weights.


rule prepare_image:
    """Copy (images_dir) or download (source URL) the training file, check its sha256, and write the training
    view: EXIF transpose, alpha onto white, shorter side to the training resolution, centre crop."""
    output:
        png=under(R, "images/{image}.png"),
        info=under(R, "images/{image}.json"),
    params:
        code=CODE["prepare_image"],
        source=lambda wc: source_params(wc.image),
        resolution=prepare_resolution(config),
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "prepare_image/{image}.log"),
    benchmark:
        under(BENCH, "prepare_image/{image}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/prepare_image.py"


rule tiny_model:
    """The tiny SDXL-architecture pipeline with seeded random weights, as a save_pretrained folder."""
    output:
        under(R, "model/model_index.json"),
    params:
        code=CODE["tiny_model"],
        seed=0,
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "tiny_model.log"),
    benchmark:
        under(BENCH, "tiny_model.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/tiny_model.py"


rule random_metric_weights:
    """Seeded random weights of the metric models' true architectures (metric_weights: random; tiny only)."""
    output:
        expand(under(R, "metric_weights/{model}.safetensors"), model=METRIC_MODELS, allow_missing=True),
    params:
        code=CODE["random_metric_weights"],
        seed=0,
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "random_metric_weights.log"),
    benchmark:
        under(BENCH, "random_metric_weights.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/random_metric_weights.py"
