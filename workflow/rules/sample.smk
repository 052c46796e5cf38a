# Sampling: every prompt set of one run in one job (one pipeline load), and cross-image recombinations.


rule sample:
    """Content-only, style-only and combined images (every combined mode) of one run, with a manifest."""
    input:
        run=under(RUN, "run.json"),
        model=model_input,
        prompts=config["prompts"],
    output:
        manifest=under(RUN, "samples/manifest.csv"),
        provenance=under(RUN, "samples/provenance.json"),
    params:
        code=CODE["sample"],
        settings=SAMPLE_SETTINGS,
        names=lambda wc: [names_of(wc.image)],
    threads: config["threads"]["sample"]
    resources:
        **job_resources("sample"),
    log:
        under(LOGS, "sample/{method}/{image}/train{train_seed}.log"),
    benchmark:
        under(BENCH, "sample/{method}/{image}/train{train_seed}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/sample.py"


rule recombine:
    """Content LoRA of one image with the style LoRA of another, combined prompts in every mode."""
    input:
        content=under(RUN.replace("{image}", "{content}"), "run.json"),
        style=under(RUN.replace("{image}", "{style}"), "run.json"),
        model=model_input,
        prompts=config["prompts"],
    output:
        manifest=under(RECOMBINATION, "manifest.csv"),
        provenance=under(RECOMBINATION, "provenance.json"),
    params:
        code=CODE["sample"],
        settings=SAMPLE_SETTINGS,
        names=lambda wc: [names_of(wc.content), names_of(wc.style)],
    threads: config["threads"]["sample"]
    resources:
        **job_resources("sample"),
    log:
        under(LOGS, "recombine/{method}/{content}+{style}/train{train_seed}.log"),
    benchmark:
        under(BENCH, "recombine/{method}/{content}+{style}/train{train_seed}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/sample.py"
