"""A lean decode path for Llama-family models on the CPU: slot KV cache, fused projections, measured kernels.

Why: transformers' forward costs a decode step more than its matrix multiplies (the mask built anew, the cache
concatenated or re-indexed when a row leaves, three projections where one would do). Here:
- every row owns a slot of one preallocated KV buffer per layer ([slots, kv heads, columns, head dim]); a step
  writes one column per row in place, a finished row's slot is reset and refilled by the next prompt, and nothing
  is copied when rows come and go (only when the queue is empty and half the slots are idle is the buffer
  compacted, so the tail does not pay for empty rows); the buffer grows by doubling when a row needs more columns;
- q, k, v are one matrix multiply, gate and up one more; the weights are prepared once per model and precision;
- each fp32 linear runs on the kernel measured fastest for its shape on this machine (core/inference/kernels.py);
- precision is explicit: "fp32" (default, greedy answers match transformers'), "bf16" or "int8" (weight-only);
- a greedy step may check prompt-lookup guesses after each row's token (step_with_guesses, core/inference/drafts.py),
  and takes its argmax through a bf16 screen whose few candidates are computed in fp32 (_ArgmaxHead: the same argmax).
Positions are per row (rotary embeddings from the model's own module), so where a row sits in the buffer does not
change its answer. Norms, softmax and the residual stream stay in fp32 in every precision.
"""
from __future__ import annotations

import threading
import time

import torch
import torch.nn.functional as F

from core.inference import kernels

# A shared prefix shorter than this is not worth a separate forward pass.
MIN_SHARED_PREFIX = 8
# Decode attention runs over runs of this many slots, each to its own longest row, where that reads a tenth fewer
# keys and values than every slot to the longest row of all: rows that joined later are shorter, and attention is
# memory-bound (benchmark: 16% fewer columns read; slots of four lengths, 108-326 tokens: 90 -> 78 ms a step).
ATTENTION_CHUNK = 8
_lock = threading.Lock()


def supports_slots(model) -> bool:
    """True for a plain (not PEFT-wrapped) Llama-architecture model on the CPU without biases or sliding windows."""
    config = getattr(model, "config", None)
    if type(model).__name__ != "LlamaForCausalLM" or config is None:
        return False
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return False
    if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "pretraining_tp", 1) != 1:
        return False
    try:
        weight = model.lm_head.weight
    except AttributeError:
        return False
    return weight.device.type == "cpu" and weight.dtype is torch.float32


class _Linear:
    """x -> x @ W.T in the chosen precision; the result is fp32."""

    def __init__(self, weight: torch.Tensor, precision: str, rows: int, total_bytes: int):
        self.out_features, self.in_features = weight.shape
        weight = weight.detach()
        if precision == "fp32":
            self.kernel = kernels.choose_kernel(rows, self.in_features, self.out_features, total_bytes)
            self._call = kernels.kernel_call(self.kernel, weight.contiguous(), None, rows)
        elif precision == "bf16":
            self.kernel = "bf16"
            w = weight.to(torch.bfloat16).contiguous()
            self._call = lambda x: F.linear(x.to(torch.bfloat16), w).float()
        else:
            self.kernel = "int8"
            q, scales = kernels.quantize_int8(weight)
            scales = scales.to(torch.bfloat16)
            op = torch.ops.aten._weight_int8pack_mm
            self._call = lambda x: op(x.to(torch.bfloat16), q, scales).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        out = self._call(x.reshape(-1, self.in_features))
        return out.view(*shape[:-1], self.out_features)


class _ArgmaxHead:
    """The vocabulary projection for a greedy step, which needs each row's argmax and nothing else: bf16 weights (half
    the bytes of fp32: the bundled model's projection reads 57 MB instead of 113, about 5 ms instead of 14 at 32 rows
    on the Xeon) find the tokens that can be the fp32 argmax, and those few are computed in fp32. Exact, not an
    approximation: with x and w rounded to bf16 (2^-9 each), products summed in fp32 (n x 2^-24) and the result
    rounded to bf16 (2^-9 of |logit| <= |x||w|), a token's bf16 logit lies within s |x||w_j| of its fp32 one, with
    s = 2^-7 x 1.01 + n x 2^-23; a token whose bf16 logit plus that is below the bf16 leader's minus its own cannot be
    the fp32 argmax. The returned logits are fp32 for the candidates (a few a row) and lower bf16 values elsewhere:
    their argmax is the fp32 projection's (on 4,429 rows of the benchmark's decoding: all equal)."""

    def __init__(self, weight: torch.Tensor):
        self.weight = weight.detach().contiguous()
        self.low = self.weight.to(torch.bfloat16)
        self.in_features = self.weight.shape[1]
        self.norms = self.weight.norm(dim=1)
        self.coefficient = 2 ** -7 * 1.01 + self.in_features * 2 ** -23

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, self.in_features)
        logits = F.linear(x.to(torch.bfloat16), self.low).float()
        scale = self.coefficient * x.norm(dim=-1, keepdim=True)
        top, leader = logits.max(dim=-1, keepdim=True)
        floor = top - scale * self.norms[leader]  # the fp32 maximum is at least this
        rows, tokens = (torch.addcmul(logits, scale, self.norms) >= floor).nonzero(as_tuple=True)
        logits[rows, tokens] = (x[rows] * self.weight[tokens]).sum(dim=-1)
        return logits.view(*shape[:-1], -1)


class _Norm:
    """The model's RMSNorm as PyTorch's one fused kernel (the same results, a fifth of the small ops)."""

    def __init__(self, module):
        self.weight, self.eps = module.weight.detach(), module.variance_epsilon
        self.shape = tuple(self.weight.shape)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, self.shape, self.weight, self.eps)


class _Layer:
    def __init__(self, layer, precision: str, rows: int, total_bytes: int):
        attention, mlp = layer.self_attn, layer.mlp
        self.norm1, self.norm2 = _Norm(layer.input_layernorm), _Norm(layer.post_attention_layernorm)
        qkv = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
        self.qkv = _Linear(qkv, precision, rows, total_bytes)
        self.o = _Linear(attention.o_proj.weight, precision, rows, total_bytes)
        self.gate_up = _Linear(torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]), precision, rows, total_bytes)
        self.down = _Linear(mlp.down_proj.weight, precision, rows, total_bytes)


class PreparedModel:
    """The weights of a Llama-family model arranged for the decode step in one precision."""

    def __init__(self, model, precision: str, rows: int):
        config = model.config
        inner = model.model
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.precision, self.rows = precision, rows
        total = sum(p.numel() * p.element_size() for p in model.parameters())
        self.layers = [_Layer(layer, precision, rows, total) for layer in inner.layers[:config.num_hidden_layers]]
        self.embed, self.norm, self.rotary = inner.embed_tokens, _Norm(inner.norm), inner.rotary_emb
        # int8 is for the layers: the vocabulary projection (tied to the embeddings in small models) stays in bf16
        # where the CPU has it (quantising it too left greedy answers identical to fp32's far less often).
        head_precision = "bf16" if precision == "int8" and kernels.bf16_supported() else precision
        self.head = _Linear(model.lm_head.weight, head_precision, rows, total)
        self.vocab = self.head.out_features
        # Greedy fp32 steps take the argmax through a bf16 screen where the CPU has bf16 kernels (see _ArgmaxHead).
        self.argmax_head = _ArgmaxHead(model.lm_head.weight) if precision == "fp32" and kernels.bf16_supported() \
            else None
        # Decode step seconds by rows in the matrix multiplies, as measured by the runs on these weights (the guess
        # policy of core/inference/drafts.py reads them).
        self.step_seconds: dict[int, float] = {}

    def kernels_used(self) -> dict[str, str]:
        first = self.layers[0]
        return {"qkv": first.qkv.kernel, "o": first.o.kernel, "gate_up": first.gate_up.kernel,
                "down": first.down.kernel, "vocabulary": self.head.kernel}

    @staticmethod
    def shapes_of(model) -> list[tuple[int, int, int]]:
        """(in, out, count) of every matrix multiply one decoded token goes through on this path."""
        config = model.config
        hidden, layers = config.hidden_size, config.num_hidden_layers
        heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
        head_dim = getattr(config, "head_dim", None) or hidden // heads
        return [(hidden, (heads + 2 * kv_heads) * head_dim, layers), (heads * head_dim, hidden, layers),
                (hidden, 2 * config.intermediate_size, layers), (config.intermediate_size, hidden, layers),
                (hidden, model.lm_head.weight.shape[0], 1)]


def prepared(model, precision: str = "fp32", rows: int = 32) -> PreparedModel:
    """The model's prepared weights for `precision`, made once per model, precision and row bucket: `rows` rounded
    up to a power of two is what the kernels are measured and MKL's packed weights are packed for (fewer rows run
    padded to it, or on MKL's plain path: core/inference/kernels.py). Bucketing keeps 5 prompts after 7 from packing
    the weights again (0.5-0.9 s each time for the bundled model on a 2-core Xeon)."""
    rows = 1 << (max(1, rows) - 1).bit_length()
    key = (precision, rows)
    with _lock:
        cache = model.__dict__.setdefault("_workbench_prepared", {})
        if key not in cache:
            # Only one row count is kept per precision: a new one replaces it (its packed weights go).
            for old in [k for k in cache if k[0] == precision]:
                del cache[old]
            cache[key] = PreparedModel(model, precision, rows)
        return cache[key]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, hidden: torch.Tensor,
                      kv_heads: int) -> torch.Tensor:
    """Attention of a few new tokens per row (one, or one and its guesses): two batched matrix multiplies with the
    query heads that share a key head side by side ([rows, kv heads, group x tokens, dim] against [rows, kv heads,
    columns, dim]); `hidden` [rows, 1, tokens, columns] marks the columns a token does not see. For one query,
    PyTorch's CPU flash-attention kernel cost several times this."""
    rows, steps, heads, dim = q.shape
    group = heads // kv_heads
    grouped = q.transpose(1, 2).reshape(rows, kv_heads, group * steps, dim)
    scores = torch.matmul(grouped, keys.transpose(-1, -2)) * dim ** -0.5
    width = scores.shape[-1]
    scores = scores.view(rows, kv_heads, group, steps, width).masked_fill_(hidden[:, :, None], float("-inf"))
    scores = scores.view(rows, kv_heads, group * steps, width).softmax(dim=-1)
    return torch.matmul(scores, values).view(rows, heads, steps, dim).transpose(1, 2)


class SlotCache:
    """Keys and values of `slots` rows, each row in its own slot, plus which columns of a slot hold real tokens."""

    def __init__(self, model: PreparedModel, slots: int, columns: int = 64):
        self.model, self.slots = model, slots
        shape = (slots, model.kv_heads, columns, model.head_dim)
        self.keys = [torch.zeros(shape) for _ in model.layers]
        self.values = [torch.zeros(shape) for _ in model.layers]
        self.valid = torch.zeros(slots, columns, dtype=torch.bool)
        self.lengths = [0] * slots
        # The last shared prefix computed, and its keys and values per layer (reused by later prompts).
        self.prefix_tokens: list[int] = []
        self._prefix_states: list[torch.Tensor] = []

    @property
    def columns(self) -> int:
        return self.valid.shape[1]

    def reserve(self, columns: int) -> None:
        """Room for `columns` per slot, exactly (one copy now instead of doublings while rows decode)."""
        self._reserve(columns, double=False)

    def _reserve(self, columns: int, double: bool = True) -> None:
        if columns <= self.columns:
            return
        capacity = max(columns, 2 * self.columns) if double else columns
        old = self.columns

        def grown(t: torch.Tensor) -> torch.Tensor:
            new = t.new_zeros((*t.shape[:2], capacity, t.shape[3]))
            new[:, :, :old] = t
            return new

        self.keys = [grown(t) for t in self.keys]
        self.values = [grown(t) for t in self.values]
        valid = self.valid.new_zeros((self.slots, capacity))
        valid[:, :old] = self.valid
        self.valid = valid

    def reset(self, slot: int) -> None:
        """Empties a slot for its next row (its old columns are masked out; their contents are overwritten)."""
        self.valid[slot] = False
        self.lengths[slot] = 0

    def add_slots(self, count: int) -> list[int]:
        """Room for `count` more rows (one copy of the buffer); returns the new slots, empty."""
        def grown(t: torch.Tensor) -> torch.Tensor:
            return torch.cat([t, t.new_zeros((count, *t.shape[1:]))])

        self.keys = [grown(t) for t in self.keys]
        self.values = [grown(t) for t in self.values]
        self.valid = grown(self.valid)
        self.lengths += [0] * count
        self.slots += count
        return list(range(self.slots - count, self.slots))

    @staticmethod
    def bytes_for(model: PreparedModel, slots: int, columns: int) -> int:
        """The memory of the keys and values of `slots` rows of `columns` tokens."""
        return 2 * len(model.layers) * slots * model.kv_heads * columns * model.head_dim * 4

    def keep(self, slots: list[int], columns: int | None = None) -> None:
        """Keeps only these slots, in this order (one copy of the buffer: the tail's compaction), with room for
        `columns` tokens per slot (default: 64 more than the longest row holds; were it cut to the rows' width,
        the next step would copy it all again to grow)."""
        index = torch.tensor(slots)
        used = max(self.lengths[s] for s in slots)
        width = max(used, columns) if columns else min(self.columns, used + 64)

        def kept(t: torch.Tensor) -> torch.Tensor:
            new = t.new_zeros((len(slots), *t.shape[1:-2], width, t.shape[-1]))
            new[:, :, :used] = t[index, :, :used]
            return new

        self.keys = [kept(t) for t in self.keys]
        self.values = [kept(t) for t in self.values]
        valid = self.valid.new_zeros((len(slots), width))
        valid[:, :used] = self.valid[index, :used]
        self.valid = valid
        self.lengths = [self.lengths[s] for s in slots]
        self.slots = len(slots)

    def forward(self, slots: list[int], tokens: torch.Tensor, positions: torch.Tensor, real: torch.Tensor,
                every_position: bool = False, argmax_only: bool = False) -> torch.Tensor:
        """Runs tokens [rows, T] at positions [rows, T] through the model, appending them to the rows' slots
        (`real` marks which are not padding); returns the logits of each row's last position [rows, vocab], or with
        `every_position` (a decode step with guesses: T is small) of every position [rows, T, vocab]. With
        `argmax_only` (greedy decoding) only the logits' argmax is sure to be the fp32 one (see _ArgmaxHead)."""
        m = self.model
        rows, steps = tokens.shape
        everyone = rows == self.slots and slots == list(range(self.slots))
        starts = torch.tensor([self.lengths[s] for s in slots])
        columns = starts[:, None] + torch.arange(steps)
        width = max(self.lengths[s] for s in slots) + steps
        self._reserve(width)
        index = torch.tensor(slots)
        self.valid[index[:, None], columns] = real
        visible = self.valid[:, :width] if everyone else self.valid[index, :width]
        # Masks are made once per step, not per layer.
        if steps == 1:
            mask = visible[:, None, None, :]
        else:  # each token sees its row's columns up to its own (and itself, should it be padding)
            keys_at = torch.arange(width)
            own = columns[:, :, None]
            mask = ((visible[:, None, :] & (keys_at <= own)) | (keys_at == own))[:, None]
        decoding = steps == 1 or every_position
        pieces = self._attention_pieces(steps) if decoding and everyone else None
        hidden = ~mask if decoding else None
        x = m.embed(tokens)
        cos, sin = m.rotary(x, positions)
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
        q_size, kv_size = m.heads * m.head_dim, m.kv_heads * m.head_dim
        for n, layer in enumerate(m.layers):
            qk, v = layer.qkv(layer.norm1(x)).split([q_size + kv_size, kv_size], dim=-1)
            # Queries and keys side by side take their rotary embedding in one pass.
            qk = qk.view(rows, steps, m.heads + m.kv_heads, m.head_dim)
            qk = qk * cos + _rotate_half(qk) * sin
            q, k = qk.split([m.heads, m.kv_heads], dim=2)
            keys, values = self.keys[n], self.values[n]
            keys[index[:, None], :, columns] = k
            values[index[:, None], :, columns] = v.view(rows, steps, m.kv_heads, m.head_dim)
            if pieces:  # each run of slots to its own width
                attended = torch.cat([_decode_attention(q[a:b], keys[a:b, :, :w], values[a:b, :, :w],
                                                        hidden[a:b, :, :, :w], m.kv_heads) for a, b, w in pieces])
            else:
                if everyone:
                    keys, values = keys[:, :, :width], values[:, :, :width]
                else:
                    keys, values = keys[index, :, :width], values[index, :, :width]
                if decoding:
                    attended = _decode_attention(q, keys, values, hidden, m.kv_heads)
                else:
                    attended = F.scaled_dot_product_attention(q.transpose(1, 2), keys, values, attn_mask=mask,
                                                              enable_gqa=True).transpose(1, 2)
            x = x + layer.o(attended.reshape(rows, steps, q_size))
            gate, up = layer.gate_up(layer.norm2(x)).chunk(2, dim=-1)
            x = x + layer.down(F.silu(gate) * up)
        for s in slots:
            self.lengths[s] += steps
        head = m.argmax_head if argmax_only and m.argmax_head else m.head
        return head(m.norm(x if every_position else x[:, -1]))

    def rewind(self, lengths: list[int]) -> None:
        """Cuts every slot back to `lengths` tokens (the guesses a step did not keep are forgotten)."""
        for slot, length in enumerate(lengths):
            if length < self.lengths[slot]:
                self.valid[slot, length:self.lengths[slot]] = False
                self.lengths[slot] = length

    def _attention_pieces(self, steps: int = 1) -> list[tuple[int, int, int]] | None:
        """(first slot, end, columns) of each run of slots attending to its own longest row for the next `steps`
        tokens, or None where one run over all slots reads at most a tenth more."""
        pieces: list[tuple[int, int, int]] = []
        for first in range(0, self.slots, ATTENTION_CHUNK):
            end = min(first + ATTENTION_CHUNK, self.slots)
            width = max(self.lengths[first:end]) + steps
            if pieces and pieces[-1][2] == width:
                pieces[-1] = (pieces[-1][0], end, width)
            else:
                pieces.append((first, end, width))
        read = sum((end - first) * width for first, end, width in pieces)
        if len(pieces) < 2 or read > 0.9 * self.slots * (max(self.lengths) + steps):
            return None
        return pieces

    def prefill(self, slots: list[int], prompts: list[list[int]], pad_id: int,
                argmax_only: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Fills empty slots with prompts; returns (last logits, next positions). Their shared prefix is computed
        once, and the first one computed is kept: prompts that join later starting with it (the system prompt,
        say) copy its keys and values instead of computing them again."""
        for slot in slots:
            self.reset(slot)
        index, first = torch.tensor(slots), slots[0]
        known = self.prefix_tokens
        if not (known and all(len(p) > len(known) and p[:len(known)] == known for p in prompts)):
            known = []
        shared = len(known)
        if len(prompts) > 1:
            from core.inference.batching import common_prefix_length

            shared = max(shared, min(common_prefix_length(prompts), min(len(p) for p in prompts) - 1))
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        else:
            start = len(known)
            if known:  # into every joining slot at once
                for t, kept in zip((*self.keys, *self.values), self._prefix_states):
                    t[index, :, :start] = kept
                self.valid[first, :start] = True
                self.lengths[first] = start
            if shared > start:  # the rest of the shared part, computed in the first slot and copied to the others
                self.forward([first], torch.tensor([prompts[0][start:shared]]), torch.arange(start, shared)[None],
                             torch.ones(1, shared - start, dtype=torch.bool), argmax_only=True)  # logits unread
                for t in (*self.keys, *self.values):
                    t[index[1:], :, start:shared] = t[first, :, start:shared]
            if not known:
                self.prefix_tokens = prompts[0][:shared]
                self._prefix_states = [t[first, :, :shared].clone() for t in (*self.keys, *self.values)]
        self.valid[index, :shared] = True
        for slot in slots:
            self.lengths[slot] = shared
        rests = [p[shared:] for p in prompts]
        width = max(len(r) for r in rests)
        tokens = torch.tensor([[pad_id] * (width - len(r)) + r for r in rests])
        real = torch.tensor([[False] * (width - len(r)) + [True] * len(r) for r in rests])
        positions = (shared + real.long().cumsum(-1) - 1).clamp(min=0)
        logits = self.forward(slots, tokens, positions, real, argmax_only=argmax_only)
        return logits, positions[:, -1] + 1

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, argmax_only: bool = False) -> torch.Tensor:
        """One decode step for every slot (an idle slot decodes a pad token no one reads)."""
        return self.forward(list(range(self.slots)), tokens[:, None], positions[:, None],
                            torch.ones(self.slots, 1, dtype=torch.bool), argmax_only=argmax_only)

    def step_guessing(self, tokens: torch.Tensor, positions: torch.Tensor,
                      guesses: dict[int, tuple[list[int], int]], policy, pad_id: int,
                      argmax_only: bool = False) -> tuple[torch.Tensor, torch.Tensor, dict[int, list[int]]]:
        """A decode step carrying as many of the slots' guesses (slot -> (tokens, n of the match they came from)) as
        `policy` (core/inference/drafts.py; None: no guesses) finds worth it; records the step's time and the kept
        guesses in it. Returns the logits [slots, vocab], the next positions and the kept guesses by slot."""
        width = policy.width(self.slots, [(len(g), n) for g, n in guesses.values()]) if policy else 1
        began = time.perf_counter()
        kept: dict[int, list[int]] = {}
        if width == 1:
            logits, positions = self.step(tokens, positions, argmax_only=argmax_only), positions + 1
        else:
            logits, positions, counts = self.step_with_guesses(tokens, positions,
                                                               {s: g for s, (g, _) in guesses.items()}, width, pad_id,
                                                               argmax_only=argmax_only)
            for slot, (guess, n) in guesses.items():
                policy.checked(n, min(len(guess), width - 1), counts[slot])
                if counts[slot]:
                    kept[slot] = guess[:counts[slot]]
        if policy:
            policy.timed(self.slots * width, time.perf_counter() - began)
        return logits, positions, kept

    def step_with_guesses(self, tokens: torch.Tensor, positions: torch.Tensor, guesses: dict[int, list[int]],
                          width: int, pad_id: int,
                          argmax_only: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """One greedy decode step in which each slot's token is followed by up to width - 1 of its guesses
        (core/inference/drafts.py): returns the logits after each slot's last kept guess [slots, vocab], the slots'
        next positions and how many guesses each kept; the others are rewound out of the cache. A slot without
        guesses gets the logits a plain step gives it (a sampled row's, say, unless `argmax_only`)."""
        from core.inference.drafts import kept_guesses

        rows = self.slots
        block = torch.full((rows, width), pad_id, dtype=torch.long)
        block[:, 0] = tokens
        real = torch.zeros(rows, width, dtype=torch.bool)
        real[:, 0] = True
        carried = {slot: guess[:width - 1] for slot, guess in guesses.items() if guess}
        for slot, guess in carried.items():
            block[slot, 1:1 + len(guess)] = torch.tensor(guess)
            real[slot, 1:1 + len(guess)] = True
        starts = list(self.lengths)
        every = self.forward(list(range(rows)), block, positions[:, None] + torch.arange(width), real,
                             every_position=True, argmax_only=argmax_only)
        predicted = every.max(dim=-1).indices.tolist()  # greedy: the choice _next_tokens makes
        kept = [kept_guesses(carried.get(slot, []), predicted[slot]) for slot in range(rows)]
        self.rewind([start + 1 + k for start, k in zip(starts, kept)])
        index = torch.tensor(kept)
        return every[torch.arange(rows), index], positions + 1 + index, kept
