"""Prompt separation: the processor is stock without inputs, and each LoRA reads only its own prompt."""

from __future__ import annotations

import copy

import torch

from tests.conftest import unet_inputs
from unziplora.lora.adapters import add_adapters, lora_layers
from unziplora.lora.processor import install_separation, separated_projection


def _wrapped(unet, seed=0):
    add_adapters(unet, ["content", "style"], rank=4, generator=torch.Generator().manual_seed(seed))
    return unet


def test_processor_without_inputs_is_the_stock_processor(tiny_pipe):
    plain = copy.deepcopy(tiny_pipe.unet).eval()
    stock = _wrapped(copy.deepcopy(plain))
    separated = copy.deepcopy(stock)
    install_separation(separated)
    inputs = unet_inputs(tiny_pipe)
    with torch.no_grad():
        out_stock = stock(**inputs).sample
        out_sep = separated(**inputs).sample
        assert torch.equal(out_sep, out_stock)
        assert not torch.equal(out_stock, plain(**inputs).sample)  # the LoRAs do change the output
        separated.disable_adapters()
        assert torch.equal(separated(**inputs).sample, plain(**inputs).sample)


def test_separated_path_with_identical_prompts_matches_stock(tiny_pipe):
    """All three inputs equal → same maths as the stock processor (checks our attention body)."""
    unet = _wrapped(tiny_pipe.unet.eval())
    inputs = unet_inputs(tiny_pipe, batch=2)  # batch 2, as under classifier-free guidance
    with torch.no_grad():
        ref = unet(**inputs).sample
        install_separation(unet)
        same = {
            "content_hidden_states": inputs["encoder_hidden_states"],
            "style_hidden_states": inputs["encoder_hidden_states"],
        }
        out = unet(**inputs, cross_attention_kwargs=same).sample
        other = {
            "content_hidden_states": torch.randn_like(inputs["encoder_hidden_states"]),
            "style_hidden_states": inputs["encoder_hidden_states"],
        }
        changed = unet(**inputs, cross_attention_kwargs=other).sample
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert (changed - ref).abs().max() > 1e-4


def _capture_kv(unet, adapter, inputs, kwargs):
    """Outputs of `adapter`'s LoRA path in every cross-attention K and V projection."""
    seen = {}
    hooks = []
    for name, layer in lora_layers(unet).items():
        if ".attn2.to_k" in name or ".attn2.to_v" in name:
            hooks.append(
                layer.lora_B[adapter].register_forward_hook(
                    lambda m, i, o, name=name: seen.__setitem__(name, o.detach().clone())
                )
            )
    with torch.no_grad():
        unet(**inputs, cross_attention_kwargs=kwargs)
    for h in hooks:
        h.remove()
    return seen


def test_each_lora_reads_only_its_own_prompt(tiny_pipe):
    unet = _wrapped(tiny_pipe.unet.eval())
    install_separation(unet)
    inputs = unet_inputs(tiny_pipe)
    g = torch.Generator().manual_seed(1)
    c1, c2, s1, s2 = (torch.randn(inputs["encoder_hidden_states"].shape, generator=g) for _ in range(4))
    base = {"content_hidden_states": c1, "style_hidden_states": s1}
    new_style = {"content_hidden_states": c1, "style_hidden_states": s2}
    new_content = {"content_hidden_states": c2, "style_hidden_states": s1}

    content_a, content_b = (_capture_kv(unet, "content", inputs, kw) for kw in (base, new_style))
    assert len(content_a) == 2 * 11  # K and V of the 11 cross-attention modules of the tiny UNet
    assert all(torch.equal(content_a[k], content_b[k]) for k in content_a)
    style_a, style_b = (_capture_kv(unet, "style", inputs, kw) for kw in (base, new_content))
    assert all(torch.equal(style_a[k], style_b[k]) for k in style_a)
    # ...while a LoRA's own prompt does change its contribution.
    style_c = _capture_kv(unet, "style", inputs, new_style)
    assert not any(torch.equal(style_a[k], style_c[k]) for k in style_a)


def test_separated_projection_sums_base_and_each_adapters_input(tiny_pipe):
    unet = _wrapped(tiny_pipe.unet)
    name, layer = next((n, m) for n, m in lora_layers(unet).items() if n.endswith("attn2.to_k"))
    g = torch.Generator().manual_seed(2)
    x, xc, xs = (torch.randn(1, 5, layer.base_layer.in_features, generator=g) for _ in range(3))
    with torch.no_grad():
        got = separated_projection(layer, x, {"content": xc, "style": xs})
        want = (
            layer.base_layer(x)
            + layer.lora_B["content"](layer.lora_A["content"](xc))
            + layer.lora_B["style"](layer.lora_A["style"](xs))
        )
    torch.testing.assert_close(got, want)
