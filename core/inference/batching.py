"""The running batch of continuous batching: rows join and leave while the others keep decoding.

Layout: every row's KV cache is right-aligned in one [rows, heads, columns, dim] buffer per layer, with an attention
mask saying which columns hold real tokens (a row that joined later, or had a shorter prompt, has empty columns on
its left). Positions are kept per row, so a row's answer does not depend on where its tokens sit in the buffer.

Two savings over a plain left-padded batch:
- rows that finish leave at once, and new prompts take their places, so the batch stays full until the queue
  is empty (a plain batch keeps paying for stopped rows until its longest answer ends);
- a group of prompts that starts with the same tokens (the chat template's system prompt, a template's fixed
  instructions, shared few-shot examples) computes that prefix once and copies its keys and values to each row.
"""
from __future__ import annotations

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer

# A shared prefix shorter than this is not worth a separate forward pass.
MIN_SHARED_PREFIX = 8


class GrowingLayer(DynamicLayer):
    """A DynamicLayer whose keys and values live in a buffer with spare capacity, so a decode step writes one column
    instead of copying the whole cache (DynamicLayer concatenates, which copies every cached token at every step)."""

    def lazy_initialization(self, key_states, value_states) -> None:
        self.device = key_states.device
        self._k = key_states.new_empty((*key_states.shape[:2], 0, key_states.shape[-1]))
        self._v = value_states.new_empty((*value_states.shape[:2], 0, value_states.shape[-1]))
        self.length = 0
        self.is_initialized = True
        self._expose()

    def _expose(self) -> None:
        self.keys = self._k[:, :, :self.length]
        self.values = self._v[:, :, :self.length]

    def _reserve(self, columns: int) -> None:
        if columns <= self._k.shape[2]:
            return
        capacity = max(columns, 2 * self._k.shape[2], 64)
        k = self._k.new_empty((*self._k.shape[:2], capacity, self._k.shape[-1]))
        v = self._v.new_empty((*self._v.shape[:2], capacity, self._v.shape[-1]))
        k[:, :, :self.length] = self._k[:, :, :self.length]
        v[:, :, :self.length] = self._v[:, :, :self.length]
        self._k, self._v = k, v

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        added = key_states.shape[2]
        self._reserve(self.length + added)
        self._k[:, :, self.length:self.length + added] = key_states
        self._v[:, :, self.length:self.length + added] = value_states
        self.length += added
        self._expose()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def batch_select_indices(self, indices) -> None:
        if self.is_initialized:
            self._k, self._v = self._k[indices], self._v[indices]
            self._expose()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.is_initialized:
            self._k = self._k[:, :, :self.length].repeat_interleave(repeats, dim=0)
            self._v = self._v[:, :, :self.length].repeat_interleave(repeats, dim=0)
            self._expose()

    def drop_left(self, columns: int) -> None:
        """Forgets the first columns (empty in every row)."""
        self._k, self._v = self._k[:, :, columns:], self._v[:, :, columns:]
        self.length -= columns
        self._expose()

    def stack_rows(self, width: int, others: list["GrowingLayer"]) -> None:
        """Becomes its own rows then each of the others', right-aligned in `width` columns (the empty ones on the
        left are zeros under a mask of 0), in one new buffer with room for more columns: one copy however many
        groups join."""
        layers = [self, *others]
        rows = sum(layer._k.shape[0] for layer in layers)
        shape = (rows, self._k.shape[1], width + max(64, width // 2), self._k.shape[-1])
        k, v = self._k.new_zeros(shape), self._v.new_zeros(shape)
        row = 0
        for layer in layers:
            n, length = layer._k.shape[0], layer.length
            k[row:row + n, :, width - length:width] = layer._k[:, :, :length]
            v[row:row + n, :, width - length:width] = layer._v[:, :, :length]
            row += n
        self._k, self._v, self.length = k, v, width
        self._expose()


def supports_running_batch(model) -> bool:
    """True when every layer of the model keeps a plain full-attention cache; sliding-window and hybrid models keep
    the per-batch path, whose cache transformers manages itself."""
    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # a config transformers cannot read layer types from
        return False
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def common_prefix_length(prompts: list[list[int]]) -> int:
    first, n = prompts[0], min(len(p) for p in prompts)
    for i in range(n):
        token = first[i]
        if any(p[i] != token for p in prompts):
            return i
    return n


class RunningBatch:
    """Rows being decoded together: cache, attention mask, next position and latest logits per row."""

    def __init__(self, owners: list[int], cache: Cache, mask: torch.Tensor, next_position: torch.Tensor,
                 logits: torch.Tensor):
        self.owners, self.cache, self.mask, self.next_position, self.logits = owners, cache, mask, next_position, logits

    def __len__(self) -> int:
        return len(self.owners)

    @classmethod
    def prefill(cls, forward, owners: list[int], prompts: list[list[int]], pad_id: int,
                device: torch.device | str = "cpu") -> "RunningBatch":
        """Runs the prompts through the model: their shared prefix once, then each row's rest, left-padded."""
        cache = Cache(layer_class_to_replicate=GrowingLayer)
        shared = common_prefix_length(prompts) if len(prompts) > 1 else 0
        shared = min(shared, min(len(p) for p in prompts) - 1)  # every row keeps a token of its own
        if shared >= MIN_SHARED_PREFIX:
            forward(input_ids=torch.tensor([prompts[0][:shared]], device=device),
                    attention_mask=torch.ones(1, shared, dtype=torch.long, device=device),
                    position_ids=torch.arange(shared, device=device).unsqueeze(0), cache=cache)
            cache.batch_repeat_interleave(len(prompts))
        else:
            shared = 0
        rests = [p[shared:] for p in prompts]
        width = max(len(r) for r in rests)
        input_ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rests], device=device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(r)) + [1] * len(r) for r in rests], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        output = forward(input_ids=input_ids, attention_mask=mask, position_ids=positions[:, shared:], cache=cache)
        return cls(owners, cache, mask, positions[:, -1], output.logits[:, -1, :])

    def join(self, others: list["RunningBatch"]) -> None:
        """Takes the other batches' rows in after this one's, aligning every cache on its right edge."""
        batches = [self, *others]
        width = max(batch.mask.shape[1] for batch in batches)
        for index, layer in enumerate(self.cache.layers):
            layer.stack_rows(width, [batch.cache.layers[index] for batch in others])
        self.mask = torch.cat([torch.cat([b.mask.new_zeros(len(b), width - b.mask.shape[1]), b.mask], dim=1)
                               for b in batches])
        self.owners = [owner for batch in batches for owner in batch.owners]
        self.next_position = torch.cat([batch.next_position for batch in batches])
        self.logits = torch.cat([batch.logits for batch in batches])

    def keep(self, rows: list[int], tokens: torch.Tensor) -> torch.Tensor:
        """Keeps only these rows (finished ones leave the cache) and trims columns now empty in every row; returns
        the kept rows' tokens."""
        if len(rows) < len(self.owners):
            index = torch.tensor(rows, device=self.mask.device)
            self.cache.batch_select_indices(index)
            self.mask, self.next_position, self.logits = self.mask[index], self.next_position[index], self.logits[index]
            self.owners = [self.owners[i] for i in rows]
            tokens = tokens[index]
            empty = int(self.mask.any(0).long().argmax())
            if empty:
                for layer in self.cache.layers:
                    layer.drop_left(empty)
                self.mask = self.mask[:, empty:]
        return tokens

    def step(self, forward, tokens: torch.Tensor) -> None:
        """Feeds each row its newest token."""
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(self), 1)], dim=1)
        self.next_position = self.next_position + 1
        output = forward(input_ids=tokens.unsqueeze(-1), attention_mask=self.mask,
                         position_ids=self.next_position.unsqueeze(-1), cache=self.cache)
        self.logits = output.logits[:, -1, :]
