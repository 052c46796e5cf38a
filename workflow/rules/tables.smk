# Tables: comparison, ablation, metric win rates, per image, recombination (CSV + Markdown), with provenance.

TABLES = ["comparison", "ablation", "winrate", "per_image", "recombination"]
if {"shape_right", "style_right"} <= set(config["metrics"]):
    TABLES.append("oracle")  # the toy world's fidelity and leakage columns (analysis.oracle)


def table_subsets():
    """{value: image ids} of the sheet column `tables.subsets_by` over the selected images (e.g. the toy tiers)."""
    column = config["tables"]["subsets_by"]
    if not column:
        return {}
    if column not in SHEET.columns:
        fail(f"tables.subsets_by names {column!r}, which is not a column of {config['sheet']}; name one or set null")
    return {str(v): [i for i in IMAGES if SHEET.loc[i, column] == v] for v in SHEET.loc[IMAGES, column].unique()}


def image_truth():
    """{image id: {"shape", "style"}} from the sheet's true_shape/true_style columns (the toy world), else {}."""
    if not {"true_shape", "true_style"} <= set(SHEET.columns):
        return {}
    return {i: {"shape": SHEET.loc[i, "true_shape"], "style": SHEET.loc[i, "true_style"]} for i in ALL_IMAGES}


SUBSETS = table_subsets()


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
        subsets=expand(under(R, "tables/{subset}/{name}.{ext}"), subset=SUBSETS, name=TABLES, ext=("csv", "md"),
                       allow_missing=True),  # fmt: skip
    params:
        code=CODE["tables"],
        config_hash=CONFIG_HASH,
        bootstrap=config["tables"]["bootstrap"],
        seed=config["tables"]["seed"],
        subsets=SUBSETS,
        truth=image_truth(),
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
