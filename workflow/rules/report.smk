# The HTML report (snakemake --report) over every table and figure, made by the DAG's last rule.


rule html_report:
    """Snakemake's self-contained HTML report of this preset's tables and figures."""
    input:
        rules.make_tables.output,
        rules.summary_figures.output,
        expand(rules.grid.output.png, preset=PRESET, image=IMAGES),
        (expand(rules.recombination_figures.output, preset=PRESET) if PAIRS else []),
        (rules.oracle_figures.output if ORACLE_TABLE else []),
        config=under(R, "config.yaml"),
    output:
        under(R, "report.html"),
    params:
        snakemake=f"{sys.executable} -m snakemake",  # the Snakemake running this workflow, activated or not
        snakefile=os.path.relpath(workflow.main_snakefile),  # relative: a moved project remakes nothing
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "report.log"),
    benchmark:
        under(BENCH, "report.tsv")
    conda:
        "../../environment.yml"
    shell:
        # config.yaml leaves out what changes no output (images_dir among them): the report's planning checks no image
        "UNZIPLORA_REPORT=1 {params.snakemake} --snakefile {params.snakefile:q} --nolock --configfile {input.config:q} "
        "--report {output:q} > {log:q} 2>&1"


rule resolved_config:
    """The resolved config of this run (preset, user overrides, defaults), for the report; without the keys that
    change no output (threads, resources, device, batch sizes: workflow/scripts/_config.py KEYS), so moving to a
    cluster remakes nothing. The tables' provenance is their own (tables/provenance.json), not this file."""
    output:
        under(R, "config.yaml"),
    params:
        config=lambda wc: dict(SETTINGS),
    log:
        under(LOGS, "resolved_config.log"),
    benchmark:
        under(BENCH, "resolved_config.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/resolved_config.py"
