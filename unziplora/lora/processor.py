"""Prompt separation (spec §1.2) as an attention processor on a stock diffusers UNet.

In cross-attention, K and V become  W0·x + ΔW_c·x_c + ΔW_s·x_s : the base weights read the combined prompt x,
the content LoRA the content prompt x_c and the style LoRA the style prompt x_s. Q and the output projection read
image tokens, so they keep peft's ordinary forward. Without content/style inputs the processor *is* the stock
`AttnProcessor2_0` (it calls it), so installing it changes nothing until the inputs are passed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from peft.tuners.lora import LoraLayer

#: cross_attention_kwargs key → the adapter that reads it.
SEPARATED_INPUTS = {"content_hidden_states": "content", "style_hidden_states": "style"}


def separated_projection(layer: torch.nn.Module, x: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """base(x) + Σ_a scale_a · B_a(A_a(dropout_a(inputs.get(a, x)))) over the layer's active adapters.

    The same sum peft's `lora.Linear.forward` computes, except that each adapter may read its own input.
    Column gates (masks, mergers) act through hooks on `lora_B`, so they apply here as in peft's forward.
    """
    if not isinstance(layer, LoraLayer):
        return layer(x)  # a projection without LoRA (e.g. outside B-LoRA's blocks)
    if layer.merged:
        raise RuntimeError("prompt separation needs unmerged LoRA weights; call unfuse_lora()/unmerge first")
    result = layer.base_layer(x)
    if layer.disable_adapters:
        return result
    out_dtype = result.dtype
    for name in layer.active_adapters:
        if name not in layer.lora_A:
            continue
        a = layer.lora_A[name]
        h = inputs.get(name)
        h = (x if h is None else h).to(a.weight.dtype)
        result = result + layer.lora_B[name](a(layer.lora_dropout[name](h))) * layer.scaling[name]
    return result.to(out_dtype)


class SeparatedAttnProcessor(AttnProcessor2_0):
    """SDPA attention whose cross-attention K/V feed each LoRA its own prompt embedding.

    Install on every attention module (`unet.set_attn_processor(SeparatedAttnProcessor())`): self-attention and
    calls without `content_hidden_states`/`style_hidden_states` take the stock path unchanged. The keywords must be
    explicit parameters, since diffusers drops keyword arguments a processor's signature does not name.
    Separated inputs must have the batch layout of `encoder_hidden_states` (for classifier-free guidance,
    `[negative; positive]`, like the combined prompt's embeddings).
    """

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        content_hidden_states: torch.Tensor | None = None,
        style_hidden_states: torch.Tensor | None = None,
        *args,
        **kwargs,
    ) -> torch.Tensor:
        given = {"content": content_hidden_states, "style": style_hidden_states}
        given = {k: v for k, v in given.items() if v is not None}
        if not given or not attn.is_cross_attention or encoder_hidden_states is None:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        return self._separated(attn, hidden_states, encoder_hidden_states, attention_mask, given)

    @staticmethod
    def _separated(attn, hidden_states, context, attention_mask, given) -> torch.Tensor:
        if attn.spatial_norm is not None or attn.group_norm is not None or hidden_states.ndim != 3:
            raise NotImplementedError("prompt separation supports the transformer-block attention of SDXL only")
        for name, tensor in given.items():
            if tensor.shape != context.shape:
                raise ValueError(
                    f"{name} prompt embeddings have shape {tuple(tensor.shape)} but the combined prompt's have "
                    f"{tuple(context.shape)}; encode all three prompts the same way (and double all for CFG)"
                )
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
            given = {k: attn.norm_encoder_hidden_states(v) for k, v in given.items()}
        batch, length = context.shape[0], context.shape[1]
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
            attention_mask = attention_mask.view(batch, attn.heads, -1, attention_mask.shape[-1])

        query = attn.to_q(hidden_states)
        key = separated_projection(attn.to_k, context, given)
        value = separated_projection(attn.to_v, context, given)

        head_dim = key.shape[-1] // attn.heads
        query, key, value = (t.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for t in (query, key, value))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=0.0)
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


def install_separation(unet: torch.nn.Module) -> None:
    """Put a `SeparatedAttnProcessor` on every attention module of `unet` (one shared instance)."""
    unet.set_attn_processor(SeparatedAttnProcessor())
