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
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
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
    threads: config["threads"]["train"]
    resources:
        **job_resources("train"),
    log:
        under(TOYWORLD, "logs/toy_oracles.log"),
    benchmark:
        under(TOYWORLD, "benchmarks/toy_oracles.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_oracles.py"
