# Tables: comparison, ablation, metric win rates, per image, recombination (CSV + Markdown), with provenance.

TABLES = ["comparison", "ablation", "winrate", "per_image", "recombination"]


rule make_tables:
    """Bootstrap CIs over images, paired differences and metric win rates (analysis.tables.write_tables)."""
    input:
        scores=under(R, "scores.csv"),
        reference="data/paper_reference.csv",
    output:
        **{
            name: report(
                under(R, f"tables/{name}.csv"),
                caption=f"../report/{name}.rst",
                category="Tables",
                labels={"table": name},
            )
            for name in TABLES
        },
        markdown=expand(under(R, "tables/{name}.md"), name=TABLES, allow_missing=True),
    params:
        code=CODE["tables"],
        config_hash=CONFIG_HASH,
        bootstrap=config["tables"]["bootstrap"],
        seed=config["tables"]["seed"],
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "tables.log"),
    benchmark:
        under(BENCH, "tables.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/tables.py"
