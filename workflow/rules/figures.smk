# Figures (PNG + PDF): metric bars, ablation, LoRA analysis, per-image grids, the recombination matrix.

SUMMARY_FIGURES = ["metric_bars", "ablation_plot", "lora_similarity", "mask_fractions"]


rule summary_figures:
    """Metric bars with CIs, the ablation plot, per-layer content/style LoRA similarity and column-mask fractions
    (LoRA analysis on the first image's runs, first training seed)."""
    input:
        comparison=rules.make_tables.output.comparison,
        ablation=rules.make_tables.output.ablation,
        runs=expand(under(RUN, "run.json"), preset=PRESET, method=METHOD_KEYS, image=IMAGES[:1], train_seed=SEEDS[:1]),
    output:
        **{
            name: report(under(R, f"figures/{name}.png"), caption=f"../report/{name}.rst", category="Figures")
            for name in SUMMARY_FIGURES
        },
        pdf=expand(under(R, "figures/{name}.pdf"), name=SUMMARY_FIGURES, allow_missing=True),
    params:
        code=CODE["figures"],
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "figures.log"),
    benchmark:
        under(BENCH, "figures.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/figures.py"


rule grid:
    """One image's grid: input | content-only | style-only | combined (each mode), one row per method."""
    input:
        image=rules.prepare_image.output.png,
        manifests=expand(
            under(RUN, "samples/manifest.csv"), method=METHOD_KEYS, train_seed=SEEDS[:1], allow_missing=True
        ),
    output:
        png=report(
            under(R, "figures/grids/{image}.png"),
            caption="../report/grid.rst",
            category="Grids",
            labels={"image": "{image}"},
        ),
        pdf=under(R, "figures/grids/{image}.pdf"),
    params:
        code=CODE["grid"],
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "grid/{image}.log"),
    benchmark:
        under(BENCH, "grid/{image}.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/grid.py"


rule recombination_figures:
    """The recombination matrix (contents × styles) of every method, first combined prompt, first mode, first seed
    (one job: each figure takes a fraction of a second, the job's imports take seconds)."""
    input:
        manifests=lambda wc: [
            under(RECOMBINATION.format(preset=PRESET, method=m, content=c, style=s, train_seed=SEEDS[0]), "manifest.csv")
            for m in METHOD_KEYS
            for c, s in PAIRS
        ],
    output:
        **{
            method: report(
                under(R, f"figures/recombination/{method}.png"),
                caption="../report/recombination_matrix.rst",
                category="Recombination",
                labels={"method": method},
            )
            for method in METHOD_KEYS
        },
        pdf=expand(under(R, "figures/recombination/{method}.pdf"), method=METHOD_KEYS, allow_missing=True),
    params:
        code=CODE["recombination_figures"],
        contents=config["recombination"]["contents"],
        styles=config["recombination"]["styles"],
    resources:
        **job_resources("light"),
    log:
        under(LOGS, "recombination_figures.log"),
    benchmark:
        under(BENCH, "recombination_figures.tsv")
    conda:
        "../../environment.yml"
    script:
        "../scripts/recombination_figures.py"


if ORACLE_TABLE:
    # One figure per oracle table: over all images, then per subset (the toy tiers): folder under tables/ → title.
    ORACLE_FIGURES = {"": "all images"} | {f"{s}/": f"{s} ({len(ids)} images)" for s, ids in SUBSETS.items()}

    rule oracle_figures:
        """The oracle table as bars (fidelity and leakage of each LoRA, joint fidelity per mode, 95% CIs), over all
        images and per subset of the sheet (the toy world's tiers): made from the tables alone."""
        input:
            tables=[under(R, f"tables/{where}oracle.csv") for where in ORACLE_FIGURES],
        output:
            png=[
                report(
                    under(R, f"figures/{where}oracle.png"),
                    caption="../report/oracle_figure.rst",
                    category="Figures",
                    labels={"figure": "oracle", "images": title},
                )
                for where, title in ORACLE_FIGURES.items()
            ],
            pdf=[under(R, f"figures/{where}oracle.pdf") for where in ORACLE_FIGURES],
        params:
            code=CODE["oracle_figures"],
            titles=list(ORACLE_FIGURES.values()),
        resources:
            **job_resources("light"),
        log:
            under(LOGS, "oracle_figures.log"),
        benchmark:
            under(BENCH, "oracle_figures.tsv")
        conda:
            "../../environment.yml"
        script:
            "../scripts/oracle_figures.py"
