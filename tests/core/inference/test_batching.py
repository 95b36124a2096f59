"""Continuous batching on the real bundled model: a row's logits do not depend on who it shares the batch with,
where its prefix was computed, or when it joined."""
import pytest
import torch

from core.inference.batching import GrowingLayer, RunningBatch, common_prefix_length, supports_running_batch
from core.inference.generate import GenerationSettings, _forward_for, chat_prompt_ids, generate_chats
from core.models import bundled
from core.models.loading import load_causal_lm


@pytest.fixture(scope="module")
def chat_model(shared_models_dir):
    return load_causal_lm(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))


def _alone(model, prompt: list[int], then: list[int]) -> list[torch.Tensor]:
    """Next-token logits of one prompt run alone, after the prompt and after each token of `then`."""
    with torch.inference_mode():
        ids = torch.tensor([prompt + then])
        logits = model(input_ids=ids).logits[0]
    return [logits[len(prompt) - 1 + i] for i in range(len(then) + 1)]


def test_shared_prefix_and_joining_rows_give_each_row_its_own_logits(chat_model):
    model, tokenizer = chat_model
    forward = _forward_for(model)
    conversations = ["What is the capital of Japan?", "Name three primary colours, please.",
                     "Our customer writes that order 48213 has been stuck for three weeks. Reply politely."]
    prompts = [chat_prompt_ids(tokenizer, [{"role": "user", "content": c}]) for c in conversations]
    assert common_prefix_length(prompts[:2]) >= 8  # the chat template's system prompt is shared
    follow = [[tokenizer.encode(" Sure")[0], tokenizer.encode(" thing")[0]] for _ in prompts]

    with torch.inference_mode():
        batch = RunningBatch.prefill(forward, [0, 1], prompts[:2], tokenizer.pad_token_id)
        assert isinstance(batch.cache.layers[0], GrowingLayer)
        first_logits = batch.logits.clone()
        batch.step(forward, torch.tensor([follow[0][0], follow[1][0]]))
        # A longer prompt joins a batch that has already decoded a step: both are aligned on their right edge.
        late = RunningBatch.prefill(forward, [2], prompts[2:], tokenizer.pad_token_id)
        batch.join([late])
        assert batch.owners == [0, 1, 2] and batch.mask.shape[1] == max(batch.mask.sum(1)).item()
        joined_logits = batch.logits.clone()
        # Row 1 finishes; rows 0 and 2 go on one more step each.
        tokens = batch.keep([0, 2], torch.tensor([follow[0][1], follow[1][1], follow[2][0]]))
        batch.step(forward, tokens)

    reference = [_alone(model, p, f) for p, f in zip(prompts, follow)]
    close = dict(atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(first_logits[0], reference[0][0], **close)
    torch.testing.assert_close(first_logits[1], reference[1][0], **close)
    torch.testing.assert_close(joined_logits[0], reference[0][1], **close)
    torch.testing.assert_close(joined_logits[1], reference[1][1], **close)
    torch.testing.assert_close(joined_logits[2], reference[2][0], **close)
    torch.testing.assert_close(batch.logits[0], reference[0][2], **close)
    torch.testing.assert_close(batch.logits[1], reference[2][1], **close)
    assert batch.owners == [0, 2]
    # Row 1 held the widest part of the left edge no longer: columns empty in every row are trimmed.
    assert bool(batch.mask[:, 0].any())


def test_growing_layer_writes_in_place_and_keeps_only_selected_rows():
    layer = GrowingLayer()
    keys = torch.arange(2 * 1 * 3 * 2, dtype=torch.float32).reshape(2, 1, 3, 2)
    layer.update(keys, keys + 100)
    buffer = layer._k
    for step in range(5):
        new = torch.full((2, 1, 1, 2), float(step))
        k, v = layer.update(new, new)
    assert layer._k is buffer  # spare capacity: no reallocation for one column per step
    assert layer.get_seq_length() == 8 and k.shape == (2, 1, 8, 2)
    torch.testing.assert_close(k[:, :, :3], keys)
    torch.testing.assert_close(v[:, :, 3:, 0], torch.arange(5.).expand(2, 1, 5))
    layer.batch_select_indices(torch.tensor([1]))
    torch.testing.assert_close(layer.keys[0, :, :3], keys[1])
    other = GrowingLayer()
    other.update(torch.ones(2, 1, 4, 2), torch.ones(2, 1, 4, 2))
    layer.stack_rows(10, [other])  # 8 columns of its own and 4 of the other's, right-aligned in 10
    assert layer.keys.shape == (3, 1, 10, 2) and layer._k.shape[2] > 10
    assert not layer.keys[0, :, :2].any() and not layer.keys[1:, :, :6].any()
    torch.testing.assert_close(layer.keys[0, :, 2:5], keys[1])
    assert layer.keys[1:, :, 6:].eq(1).all()
    layer.drop_left(2)
    torch.testing.assert_close(layer.keys[0, :, :3], keys[1])


def test_models_with_sliding_window_layers_take_the_per_batch_path(chat_model):
    from transformers import MistralConfig, MistralForCausalLM

    model, tokenizer = chat_model
    assert supports_running_batch(model)
    windowed = MistralForCausalLM(MistralConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                sliding_window=16, eos_token_id=tokenizer.eos_token_id,
                                                pad_token_id=tokenizer.pad_token_id)).eval()
    assert not supports_running_batch(windowed)
    conversations = [[{"role": "user", "content": q}] for q in ("Hi", "What is two plus two, in words?")]
    results = generate_chats(windowed, tokenizer, conversations, GenerationSettings(max_new_tokens=24, batch_size=2))
    assert all(r.tokens_out > 0 for r in results)
    for conversation, result in zip(conversations, results):
        ids = torch.tensor([chat_prompt_ids(tokenizer, conversation)])
        with torch.inference_mode():
            out = windowed.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24,
                                    do_sample=False, pad_token_id=tokenizer.pad_token_id)
        expected = out[0, ids.shape[1]:].tolist()
        if tokenizer.eos_token_id in expected:
            expected = expected[:expected.index(tokenizer.eos_token_id)]
        assert result.tokens_out == len(expected)
        assert result.output == tokenizer.decode(expected, skip_special_tokens=True).strip()
