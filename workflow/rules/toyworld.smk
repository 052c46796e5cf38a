# The toy world's instruments, rebuilt on demand only: every toy run reads the committed data/toy/ artifacts, and
# these targets write fresh ones under results/toyworld/ for comparison (copy them over data/toy/ to adopt them).
#   snakemake --cores all toy_base_model      # < 1 h on 2 CPU cores; its log is committed as data/toy/base_model.log
#   snakemake --cores all toy_oracles         # on renders and on the committed base model's VAE reconstructions
#   snakemake --cores all toy_block_probe     # which blocks carry shape / style, on both tiers (data/toy/block_probe/)
#   snakemake --cores all toy_rank_sweep      # UnZipLoRA's fidelity and leakage over rank × steps (data/toy/rank_sweep/)
#   snakemake --cores all toy_step_sweep      # where each method's fidelity saturates in steps (data/toy/step_sweep/)

TOYWORLD = "results/toyworld"


rule toy_base_model:
    """Pretrain the toy base model from scratch and measure it with the committed oracles."""
    input:
        oracles=expand("data/toy/oracles/{factor}.safetensors", factor=("shape", "style")),
    output:
        model=under(TOYWORLD, "base_model/model_index.json"),
        record=under(TOYWORLD, "base_model/pretraining.json"),
    params:
        code=CODE["toy_base_model"],
        seed=0,
    threads: lambda wildcards: workflow.cores  # one long job: every core Snakemake was given (evaluated per job)
    resources:
        **toy_resources(runtime=90, mem_mb=8000),
    log:
        under(TOYWORLD, "logs/toy_base_model.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_base_model.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_base_model.py"


rule toy_oracles:
    """Train the shape and style oracles on renders and on the committed base model's VAE reconstructions."""
    input:
        model="data/toy/base_model/model_index.json",
    output:
        expand(under(TOYWORLD, "oracles/{factor}.safetensors"), factor=("shape", "style")),
        report=under(TOYWORLD, "oracles/report.json"),
    params:
        code=CODE["toy_oracles"],
        seed=0,
    threads: lambda wildcards: workflow.cores  # one long job: every core Snakemake was given (evaluated per job)
    resources:
        **toy_resources(runtime=30, mem_mb=8000),
    log:
        under(TOYWORLD, "logs/toy_oracles.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_oracles.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_oracles.py"


TOY_INPUTS = {
    "model": "data/toy/base_model/model_index.json",
    "oracles": expand("data/toy/oracles/{factor}.safetensors", factor=("shape", "style")),
}


rule toy_block_probe:
    """The one-block LoRA probe on both benchmark tiers (bind: known factors to bind; novel: factors to learn)."""
    input:
        expand(under(TOYWORLD, "block_probe/{tier}/block_table.csv"), tier=("bind", "novel")),


rule toy_block_probe_tier:
    """Which attention blocks of the committed base model carry shape and which style (one-block LoRA probe)."""
    input:
        **TOY_INPUTS,
    output:
        table=under(TOYWORLD, "block_probe/{tier}/block_table.csv"),
        figure=under(TOYWORLD, "block_probe/{tier}/blocks.png"),
    wildcard_constraints:
        tier="bind|novel",
    params:
        code=CODE["toy_probe"],
        tier=lambda wildcards: wildcards.tier,
        images=4,
    threads: lambda wildcards: workflow.cores  # one long job: every core Snakemake was given (evaluated per job)
    resources:
        **toy_resources(runtime=60, mem_mb=4000),
    log:
        under(TOYWORLD, "logs/toy_block_probe_{tier}.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_block_probe_{tier}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_probe.py"


rule toy_rank_sweep:
    """UnZipLoRA's oracle fidelity and leakage against LoRA rank and training steps on the committed base model: the
    sweep the toy preset's rank and steps rest on (bind tier, 4 images, lr 1e-3: data/toy/rank_sweep/bind_lr_1e-3)."""
    input:
        **TOY_INPUTS,
    output:
        table=under(TOYWORLD, "rank_sweep/bind_lr_1e-3/sweep_mean.csv"),
        figure=under(TOYWORLD, "rank_sweep/bind_lr_1e-3/sweep.png"),
    params:
        code=CODE["toy_probe"],
        tier="bind",
        images=4,
    threads: lambda wildcards: workflow.cores  # one long job: every core Snakemake was given (evaluated per job)
    resources:
        **toy_resources(runtime=120, mem_mb=4000),
    log:
        under(TOYWORLD, "logs/toy_rank_sweep.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_rank_sweep.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_probe.py"


rule toy_step_sweep:
    """Where each trained method's oracle fidelity saturates in training steps, at the toy preset's rank, lr, blocks."""
    input:
        expand(under(TOYWORLD, "step_sweep/{method}/sweep_mean.csv"), method=trained_methods()),
    output:
        table=under(TOYWORLD, "step_sweep/saturation.csv"),
        figure=under(TOYWORLD, "step_sweep/saturation.png"),
    params:
        code=CODE["toy_probe"],
        methods=trained_methods(),
    log:
        under(TOYWORLD, "logs/toy_step_sweep.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_step_sweep.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_probe.py"


TOY_PRESET = load_preset(ROOT, "toy")  # the step sweep measures the toy preset's settings, whichever preset is active


rule toy_step_sweep_method:
    """One method's oracle fidelity and leakage against training steps (bind tier, 4 images; the steps of
    toyworld.saturation.STEPS) at the toy preset's rank, lr and (for block-rule methods) blocks."""
    input:
        **TOY_INPUTS,
    output:
        table=under(TOYWORLD, "step_sweep/{method}/sweep_mean.csv"),
        figure=under(TOYWORLD, "step_sweep/{method}/sweep.png"),
    params:
        code=CODE["toy_probe"],
        tier="bind",
        images=4,
        method=lambda wildcards: wildcards.method,
        train=lambda wildcards: {  # the preset's settings less those that change no output (progress, device)
            k: v
            for k, v in method_settings(TOY_PRESET["train"], TOY_PRESET["method_train"], wildcards.method).items()
            if k not in RUNTIME_FIELDS["train"]
        },
    wildcard_constraints:
        method="|".join(trained_methods()),
    threads: 1
    resources:
        **toy_resources(runtime=60, mem_mb=4000),
    log:
        under(TOYWORLD, "logs/toy_step_sweep_{method}.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_step_sweep_{method}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_probe.py"
