# Training: one run per (method, image, training seed), handed its settings whole (params.settings). LoRA files are
# write-protected once made: a changed train setting stops planning (common.smk: check_existing_runs) with the
# folders to delete.


rule train_run:
    """Train one method on one image (unziplora.train.train) into its run folder."""
    input:
        image=rules.prepare_image.output.png,
        model=model_input,
    output:
        record=under(RUN, "run.json"),
        content=protected(under(RUN, "content.safetensors")),
        style=protected(under(RUN, "style.safetensors")),
    wildcard_constraints:
        method="|".join(TRAINED) or "^$",
    params:
        code=CODE["train"],
        settings=settings_of_run,
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
    log:
        under(LOGS, "train/{method}/{image}/train{train_seed}.log"),
    benchmark:
        under(BENCH, "train/{method}/{image}/train{train_seed}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/train.py"


rule base_record:
    """The base model's run record: nothing trained, no LoRA (the floor row)."""
    input:
        image=rules.prepare_image.output.png,
        model=model_input,
    output:
        record=under(RUN, "run.json"),
    wildcard_constraints:
        method="base",
    params:
        code=CODE["train"],
        settings=settings_of_run,
    resources:
        **job_resources("train"),  # it loads the base pipeline, as training does
    log:
        under(LOGS, "train/{method}/{image}/train{train_seed}.log"),
    benchmark:
        under(BENCH, "train/{method}/{image}/train{train_seed}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/train.py"
