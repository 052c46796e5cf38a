"""The evaluation images of one run: every prompt set (content-only, style-only, combined in each mode) times the
sample seeds, rendered in one call with one loaded pipeline, plus a manifest that says what each file shows.

Prompt sets are templates (`data/prompts/*.yaml`) filled per image with its placeholder token, content noun and
style name. The manifest is the contract with scoring: one row per PNG with the image id(s), method, training
seed, task, kind, mode, prompt id, the prompt, the prompt CLIP-T reads (the placeholder token dropped: an
invented word means nothing to CLIP) and the sample seed.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from diffusers import StableDiffusionXLPipeline

from plumbing.files import atomic_file
from unziplora.config import SampleConfig
from unziplora.generate import RunFolder, generate

#: Manifest columns, in order.
MANIFEST_COLUMNS = (
    "file", "image_id", "content_image", "style_image", "method", "train_seed", "task", "kind", "mode",
    "prompt_id", "prompt", "clip_t_prompt", "seed",
)  # fmt: skip
#: The phrase every combined template must end with: official mode derives its content-only prompt by cutting it.
STYLE_PHRASE = " in {style} style"


@dataclass(frozen=True)
class PromptSets:
    """Templates per kind. content: the subject in new contexts, no style words ({token}, {content});
    style: new subjects in the extracted style ({style}; never the token); combined: the stylised subject
    ({token}, {content}, {style}), each ending with " in {style} style"."""

    content: tuple[str, ...]
    style: tuple[str, ...]
    combined: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict) -> PromptSets:
        """Build from a mapping {content: [...], style: [...], combined: [...]}, with one-line errors."""
        if not isinstance(data, dict) or set(data) != {"content", "style", "combined"}:
            raise ValueError("a prompt file needs exactly the lists 'content', 'style' and 'combined'")
        sets = {k: tuple(str(t) for t in v or ()) for k, v in data.items()}
        for kind, templates in sets.items():
            if not templates:
                raise ValueError(f"the prompt file's '{kind}' list is empty; give at least one template")
        bad = [t for t in sets["combined"] if not t.endswith(STYLE_PHRASE)]
        if bad:
            raise ValueError(f"combined template {bad[0]!r} must end with '{STYLE_PHRASE.strip()}'")
        bad = [t for t in sets["style"] if "{token}" in t]
        if bad:
            raise ValueError(f"style template {bad[0]!r} must not use {{token}}: style-only prompts name new subjects")
        return cls(**sets)


def fill(template: str, token: str, content: str, style: str) -> tuple[str, str]:
    """(prompt, CLIP-T prompt) of a template: the second drops the placeholder token ("A monadikos cat" → "A cat")."""
    prompt = " ".join(template.format(token=token, content=content, style=style).split())
    plain = " ".join(template.format(token="", content=content, style=style).split())
    return prompt, plain


def sample_run(
    pipe: StableDiffusionXLPipeline,
    runs: list[RunFolder],
    names: list[dict],
    prompt_sets: PromptSets,
    config: SampleConfig,
    modes: list[str],
    out_dir: str | Path,
    train_seed: int,
    model: str | None = None,
) -> Path:
    """Render one run's evaluation images into `out_dir` and write `out_dir/manifest.csv` last.

    `runs`: [run] for decomposition (content-only, style-only and combined prompts), or [content run, style run]
    for a cross-image recombination (combined prompts only). `names`: per run {"id", "content", "style"} from the
    image sheet. `modes`: the combined modes to render ("official", "addition"). Returns the manifest's path;
    the folder is emptied first, so files of an interrupted earlier attempt never mix in.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    first, last = names[0], names[-1]
    token = runs[0].prompts.token
    task = "decomposition" if len(runs) == 1 else "recombination"
    image_id = first["id"] if task == "decomposition" else f"{first['id']}+{last['id']}"
    items = []  # (kind, mode, prompt_id, template)
    if task == "decomposition":
        items += [("content", "single", f"content-{i:02d}", t) for i, t in enumerate(prompt_sets.content)]
        items += [("style", "single", f"style-{i:02d}", t) for i, t in enumerate(prompt_sets.style)]
    items += [("combined", m, f"combined-{i:02d}", t) for m in modes for i, t in enumerate(prompt_sets.combined)]
    rows = []
    for kind, mode, prompt_id, template in items:
        prompt, plain = fill(template, token, first["content"], last["style"])
        sub = out_dir / (prompt_id if mode == "single" else f"{prompt_id}-{mode}")
        used = runs if kind == "combined" else runs[:1]
        call = replace(config, kind=kind, mode=mode if kind == "combined" else "auto")
        shown = {"content": first["id"], "style": last["id"]}.get(kind, image_id)
        for seed, path in zip(
            config.seeds(), generate(pipe, used, prompt, call, sub, model=model, image_id=shown), strict=True
        ):
            rows.append(
                {
                    "file": str(path.relative_to(out_dir)), "image_id": shown, "content_image": first["id"],
                    "style_image": last["id"], "method": runs[0].record["method"], "train_seed": train_seed,
                    "task": task, "kind": kind, "mode": mode, "prompt_id": prompt_id, "prompt": prompt,
                    "clip_t_prompt": plain, "seed": seed,
                }
            )  # fmt: skip
    return _write_manifest(out_dir / "manifest.csv", rows)


def _write_manifest(path: Path, rows: list[dict]) -> Path:
    with atomic_file(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    return path
