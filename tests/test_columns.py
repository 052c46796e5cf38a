"""Column separation: block groups by name, gradients of masked columns, Cone selection, orthogonality loss."""

from __future__ import annotations

import torch

from tests.conftest import unet_inputs
from unziplora.blocks import block_group, is_lora_target
from unziplora.config import ColumnConfig
from unziplora.lora.adapters import add_adapters
from unziplora.lora.columns import ColumnSeparation
from unziplora.lora.cone import cone_scores, select_columns


def _columns(pipe, block_separation=True, steps=30, **kw):
    add_adapters(pipe.unet, ["content", "style"], rank=4, generator=torch.Generator().manual_seed(0))
    return ColumnSeparation(pipe.unet, steps, block_separation, **kw)


def test_block_groups_follow_module_names():
    assert block_group("up_blocks.0.attentions.0.transformer_blocks.3.attn2.to_k") == "content"
    assert block_group("up_blocks.0.attentions.2.transformer_blocks.0.attn1.to_q") == "content"
    assert block_group("up_blocks.0.attentions.1.transformer_blocks.9.attn1.to_out.0") == "style"
    assert block_group("up_blocks.1.attentions.2.transformer_blocks.1.attn2.to_v") == "style"
    assert block_group("up_blocks.0.attentions.10.transformer_blocks.0.attn1.to_q") == "shared"  # not ".1"
    for name in ("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q", "mid_block.attentions.0.x"):
        assert block_group(name) == "shared"
    assert is_lora_target("mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0")
    assert not is_lora_target("mid_block.attentions.0.transformer_blocks.0.ff.net.2")
    assert not is_lora_target("mid_block.attentions.0.proj_in")
    assert is_lora_target("up_blocks.0.attentions.1.transformer_blocks.0.attn1.to_k", ["up_blocks.0.attentions.1"])
    assert not is_lora_target("up_blocks.0.attentions.2.transformer_blocks.0.attn1.to_k", ["up_blocks.0.attentions.1"])


def test_block_separation_releases_one_lora_per_sensitive_block(tiny_pipe):
    cols = _columns(tiny_pipe)
    for (name, adapter), st in cols.states.items():
        group = block_group(name)
        assert st.group == group
        assert st.sparse == (group != adapter)
        assert bool(st.mask.all()) == (not st.sparse) and bool(st.mask.any()) == (not st.sparse)
    groups = {st.group for st in cols.states.values()}
    assert groups == {"content", "style", "shared"}
    no_blocks = ColumnSeparation(tiny_pipe.unet, 30, block_separation=False)
    assert {st.group for st in no_blocks.states.values()} == {"shared"}


def test_masked_columns_get_zero_gradient(tiny_pipe):
    cols = _columns(tiny_pipe)
    g = torch.Generator().manual_seed(3)
    for st in cols.states.values():
        if st.sparse:
            st.mask = torch.rand(st.mask.shape, generator=g) < 0.3
    cols.masks_on = True
    out = tiny_pipe.unet(**unet_inputs(tiny_pipe)).sample
    out.square().mean().backward()
    checked = 0
    for (name, adapter), st in cols.states.items():
        layer = cols.layers[name]
        grad_b = layer.lora_B[adapter].weight.grad
        if grad_b is None:
            continue
        assert torch.all(grad_b[~st.mask] == 0)
        if st.mask.any():
            assert grad_b[st.mask].abs().sum() > 0
        checked += 1
    assert checked > 0


def test_orthogonality_loss_matches_hand_computation(tiny_pipe):
    cols = _columns(tiny_pipe, block_separation=False)
    g = torch.Generator().manual_seed(4)
    expected = []
    with torch.no_grad():
        for name in cols.layers:
            c, s = cols.states[name, "content"], cols.states[name, "style"]
            c.merger.copy_(torch.rand(c.merger.shape, generator=g))
            s.merger.copy_(torch.rand(s.merger.shape, generator=g))
            c.mask = torch.rand(c.mask.shape, generator=g) < 0.5
            s.mask = torch.rand(s.mask.shape, generator=g) < 0.5
            prod = [
                abs(float(c.merger[j]) * float(s.merger[j])) if (c.mask[j] and s.mask[j]) else 0.0
                for j in range(c.mask.numel())
            ]
            expected.append(sum(prod) / len(prod))
    cols.masks_on = True
    assert abs(float(cols.orthogonality_loss().detach()) - sum(expected) / len(expected)) < 1e-6


def test_cone_scores_by_hand():
    # ΔW = B·A with A = I (2×2) → ΔW = B; grad_A = 0 → ΔW_eff = grad_B·A = grad_B.
    a = torch.eye(2)
    b = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    grad_b = torch.tensor([[1e-6, 1e-12], [1e-6, 1e-6], [1.0, 1.0]])
    count, magnitude = cone_scores(a, b, torch.zeros(2, 2), grad_b, torch.ones(3), threshold=1e-5, grad_scale=65536)
    # |cone|·2**16 > 1e-5 ⇔ |cone| > 1.5e-10: row 0 → [1e-6 yes, 1e-12 no]; row 1 → [1e-6 yes, 0 no]; row 2 → 0.
    assert count.tolist() == [0.5, 0.5, 0.0]
    torch.testing.assert_close(magnitude, torch.tensor([1e-6 + 1e-12, 1e-6, 0.0]))
    count_true_units, _ = cone_scores(a, b, torch.zeros(2, 2), grad_b, torch.ones(3), threshold=1e-5, grad_scale=1.0)
    assert count_true_units.tolist() == [0.0, 0.0, 0.0]


def test_faithful_selection_drops_ties_and_content_picks_first():
    # 20 columns, ratio 0.1 → k = 2.
    content = torch.zeros(20)
    content[[3, 7, 9]] = torch.tensor([0.9, 0.5, 0.5])  # k-th largest is 0.5 (a tie): only column 3 is > 0.5
    assert select_columns(content, 0.1).nonzero().flatten().tolist() == [3]
    style = torch.zeros(20)
    style[[3, 4, 5]] = torch.tensor([1.0, 0.8, 0.6])
    content_mask = select_columns(content, 0.1)
    # Style may not take content's column 3: among the rest, the 2nd largest is 0.6, so only 4 is strictly above.
    chosen = select_columns(style, 0.1, exclude=content_mask)
    assert chosen.nonzero().flatten().tolist() == [4]
    assert not select_columns(torch.ones(20), 0.1).any()  # all tied → nothing
    assert not select_columns(torch.ones(5), 0.1).any()  # k = floor(0.5) = 0


def test_tie_break_selection_adds_exactly_k_new_columns():
    scores = torch.ones(50)
    magnitude = torch.arange(50.0)
    already = torch.zeros(50, dtype=torch.bool)
    already[[49, 48]] = True
    exclude = torch.zeros(50, dtype=torch.bool)
    exclude[47] = True
    chosen = select_columns(scores, 0.1, exclude=exclude, tie_break=magnitude, already=already)
    assert chosen.sum() == 5  # floor(0.1 · 50)
    assert chosen.nonzero().flatten().tolist() == [42, 43, 44, 45, 46]


def test_schedule_selects_three_times_and_masks_only_grow(tiny_pipe):
    cols = _columns(tiny_pipe, steps=30, options=ColumnConfig(tie_break=True))
    events, fractions = {}, []
    inputs = unet_inputs(tiny_pipe)
    for step in range(30):
        out = tiny_pipe.unet(**inputs).sample
        loss = out.square().mean() + (cols.orthogonality_loss() if cols.masks_on else 0)
        loss.backward()
        event = cols.after_backward(step)
        if event:
            events[step] = event
        if event == "select":
            fractions.append(cols.mask_fractions()["shared"]["content"])
        if step == 1:  # content picks first and style avoids it: no shared column after the first round
            assert not any(
                (cols.states[n, "content"].mask & cols.states[n, "style"].mask).any()
                for n in cols.layers
                if cols.states[n, "content"].group == "shared"
            )
        tiny_pipe.unet.zero_grad(set_to_none=True)
    assert events == {0: "probe", 1: "select", 10: "probe", 11: "select", 20: "probe", 21: "select"}
    assert fractions == sorted(fractions) and fractions[0] > 0
    shared = [st for st in cols.states.values() if st.group == "shared"]
    for st in shared:
        assert st.mask.sum() == 3 * int(0.1 * st.mask.numel())
