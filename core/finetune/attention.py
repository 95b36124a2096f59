"""Attention for padding-free rows that computes only inside each example.

A padding-free batch is one row holding several examples. SDPA over that row with a block mask computes every
score of the row, (sum of lengths)^2, and throws most of them away; flash-attention's varlen kernel avoids
that on GPUs that have it. Here each example's slice of the row goes through SDPA on its own (causal), so the
work is the sum of the squared lengths, on any device, and the result is the same function. The collator
sends the example boundaries (`cu_seq_lens_q`) with the batch; transformers hands them to this function.
Anything else (padded batches, generation with a cache) goes to the stock SDPA path.
"""
from __future__ import annotations

NAME = "workbench_varlen_sdpa"


def varlen_sdpa_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                        scaling: float | None = None, **kwargs):
    import torch
    from torch.nn.functional import scaled_dot_product_attention
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    bounds = kwargs.get("cu_seq_lens_q")
    if bounds is None or query.shape[0] != 1 or attention_mask is not None or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    edges = [int(e) for e in bounds.tolist()]
    pieces = [scaled_dot_product_attention(query[:, :, start:end], key[:, :, start:end], value[:, :, start:end],
                                           dropout_p=dropout, scale=scaling, is_causal=True)
              for start, end in zip(edges[:-1], edges[1:]) if end > start]
    return torch.cat(pieces, dim=2).transpose(1, 2).contiguous(), None


def register() -> str:
    """Makes NAME a valid `attn_implementation` for from_pretrained; returns it."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, varlen_sdpa_forward)
    return NAME
