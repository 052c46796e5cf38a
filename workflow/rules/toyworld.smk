# The toy world's instruments, rebuilt on demand only: every toy run reads the committed data/toy/ artifacts, and
# these targets write fresh ones under results/toyworld/ for comparison (copy them over data/toy/ to adopt them).
#   snakemake --cores all toy_base_model      # < 1 h on 2 CPU cores; its log is committed as data/toy/base_model.log
#   snakemake --cores all toy_oracles         # on renders and on the committed base model's VAE reconstructions

TOYWORLD = "results/toyworld"
TOY_CODE = code_hash("toyworld/*.py", "metrics/oracle.py", "unziplora/tiny.py", "unziplora/records.py")


rule toy_base_model:
    """Pretrain the toy base model from scratch and measure it with the committed oracles."""
    input:
        oracles=expand("data/toy/oracles/{factor}.safetensors", factor=("shape", "style")),
    output:
        model=under(TOYWORLD, "base_model/model_index.json"),
        record=under(TOYWORLD, "base_model/pretraining.json"),
    params:
        code=TOY_CODE,
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
        code=TOY_CODE,
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
    """Which attention blocks of the committed base model carry shape and which style (one-block LoRA probe)."""
    input:
        **TOY_INPUTS,
    output:
        table=under(TOYWORLD, "block_probe/block_table.csv"),
        figure=under(TOYWORLD, "block_probe/blocks.png"),
    params:
        code=TOY_CODE,
        tier="novel",
        images=4,
    threads: lambda wildcards: workflow.cores  # one long job: every core Snakemake was given (evaluated per job)
    resources:
        **toy_resources(runtime=60, mem_mb=4000),
    log:
        under(TOYWORLD, "logs/toy_block_probe.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_block_probe.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_probe.py"


rule toy_rank_sweep:
    """UnZipLoRA's oracle fidelity and leakage against LoRA rank and training steps on the committed base model."""
    input:
        **TOY_INPUTS,
    output:
        table=under(TOYWORLD, "rank_sweep/sweep_mean.csv"),
        figure=under(TOYWORLD, "rank_sweep/sweep.png"),
    params:
        code=TOY_CODE,
        tier="novel",
        images=2,
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
