# UnZipLoRA benchmark: images -> train every method -> sample prompt grids -> score -> tables, figures, report.
#   snakemake --cores all                                 # preset auto: paper with a CUDA GPU, else toy (CPU)
#   snakemake --cores all --config preset=paper-mini      # see config/config.yaml and README.md for more
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/toyworld.smk"


localrules:
    all,
    train,
    samples,
    scores,
    tables,
    figures,
    report,
    aggregate,
    resolved_config,
    column_probe,


rule all:
    """Everything: tables, figures and the HTML report of the resolved preset."""
    default_target: True
    input:
        expand(rules.html_report.output, preset=PRESET),
        # Run files and manifests are listed too, so that a deleted run or sample folder is remade with its branch:
        # Snakemake never rebuilds a missing intermediate file on its own while the files after it exist.
        run_files(),
        sample_manifests(),


rule train:
    """Every run folder (LoRA files and run.json) of the selection."""
    input:
        run_files(),


rule samples:
    """Every sample manifest (and its images), recombinations included."""
    input:
        sample_manifests(),


rule scores:
    """The table of every score row."""
    input:
        expand(rules.aggregate.output, preset=PRESET),


rule tables:
    """Every table (CSV and Markdown)."""
    input:
        expand(rules.make_tables.output, preset=PRESET),


rule figures:
    """Every figure (PNG and PDF)."""
    input:
        expand(rules.summary_figures.output, preset=PRESET),
        expand(rules.grid.output, preset=PRESET, image=IMAGES),
        (expand(rules.recombination_figures.output, preset=PRESET) if PAIRS else []),
        (expand(rules.oracle_figures.output, preset=PRESET) if ORACLE_TABLE else []),


rule report:
    """The HTML report."""
    input:
        expand(rules.html_report.output, preset=PRESET),
