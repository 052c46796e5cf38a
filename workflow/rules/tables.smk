# Tables: comparison, ablation, metric win rates, per image, recombination (CSV + Markdown), with provenance.

TABLES = ["comparison", "ablation", "winrate", "per_image", "recombination"] + ORACLE_TABLE


rule make_tables:
    """Bootstrap CIs over images, paired differences and metric win rates (analysis.writing.write_tables)."""
    input:
        scores=under(R, "scores.csv"),
        provenance=expand(under(R, "scores/{method}.json"), method=METHOD_KEYS, allow_missing=True),
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
        provenance=under(R, "tables/provenance.json"),
        subsets=expand(under(R, "tables/{subset}/{name}.{ext}"), subset=SUBSETS, name=TABLES, ext=("csv", "md"),
                       allow_missing=True),  # fmt: skip
    params:
        code=CODE["tables"],
        settings=TABLE_SETTINGS,
        expected=EXPECTED,
        preset=PRESET,
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
