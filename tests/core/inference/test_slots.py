"""The lean CPU decode path for Llama-family models: each row's logits are its own whoever shares the slot cache,
kernels are chosen by measurement, lower precision only when asked for."""
import pytest
import torch

from core.errors import InvalidInput
from core.inference import kernels
from core.inference.generate import GenerationSettings, chat_prompt_ids, generate_chats
from core.inference.slots import SlotCache, prepared, supports_slots
from core.models import bundled
from core.models.loading import load_causal_lm


@pytest.fixture(scope="module")
def chat_model(shared_models_dir):
    return load_causal_lm(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))


def _alone(model, prompt: list[int], then: list[int]) -> list[torch.Tensor]:
    """Next-token logits of one prompt run alone through transformers, after the prompt and after each of `then`."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([prompt + then])).logits[0]
    return [logits[len(prompt) - 1 + i] for i in range(len(then) + 1)]


@pytest.mark.slow
def test_rows_keep_their_own_logits_as_slots_are_shared_refilled_and_compacted(chat_model):
    model, tokenizer = chat_model
    assert supports_slots(model)
    pad = tokenizer.pad_token_id
    prompts = [chat_prompt_ids(tokenizer, [{"role": "user", "content": c}]) for c in (
        "What is the capital of Japan?", "Name three primary colours, please.",
        "Our customer writes that order 48213 has been stuck for three weeks. Reply politely.")]
    follow = [tokenizer.encode(" Sure thing, here")[:3] for _ in prompts]
    reference = [_alone(model, p, f) for p, f in zip(prompts, follow)]
    close = dict(atol=2e-3, rtol=1e-3)
    with torch.inference_mode():
        weights = prepared(model, "fp32", 4)
        assert prepared(model, "fp32", 3) is weights  # row counts share their power-of-two bucket's weights
        # 3 rows run padded to the 4 the weights are packed for; the buffer is small, so the cache must grow.
        cache = SlotCache(weights, 3, columns=16)
        logits, positions = cache.prefill([0, 1], prompts[:2], pad)  # the system prompt is computed once
        torch.testing.assert_close(logits[0], reference[0][0], **close)
        torch.testing.assert_close(logits[1], reference[1][0], **close)
        assert positions.tolist() == [len(prompts[0]), len(prompts[1])]
        step = cache.step(torch.tensor([follow[0][0], follow[1][0], pad]), torch.tensor([*positions.tolist(), 0]))
        torch.testing.assert_close(step[0], reference[0][1], **close)
        torch.testing.assert_close(step[1], reference[1][1], **close)
        # The system prompt was computed once and is kept; the prompts that join later copy its keys and values.
        assert len(cache.prefix_tokens) >= 8 and all(p[:len(cache.prefix_tokens)] == cache.prefix_tokens
                                                     for p in prompts)
        # A longer prompt takes the idle slot; row 1 ends and its slot is refilled with its prompt from scratch.
        late, _ = cache.prefill([2], prompts[2:], pad)
        torch.testing.assert_close(late[0], reference[2][0], **close)
        cache.reset(1)
        again, _ = cache.prefill([1], prompts[1:2], pad)
        torch.testing.assert_close(again[0], reference[1][0], **close)
        step = cache.step(torch.tensor([follow[0][1], follow[1][0], follow[2][0]]),
                          torch.tensor([len(prompts[0]) + 1, len(prompts[1]), len(prompts[2])]))
        torch.testing.assert_close(step[0], reference[0][2], **close)
        torch.testing.assert_close(step[1], reference[1][1], **close)
        torch.testing.assert_close(step[2], reference[2][1], **close)
        # Row 1 leaves and the cache is compacted to rows 2 and 0, in that order.
        cache.keep([2, 0])
        step = cache.step(torch.tensor([follow[2][1], follow[0][2]]),
                          torch.tensor([len(prompts[2]) + 1, len(prompts[0]) + 2]))
        torch.testing.assert_close(step[0], reference[2][2], **close)
        torch.testing.assert_close(step[1], reference[0][3], **close)


@pytest.mark.slow
def test_runs_of_slots_of_different_lengths_attend_to_their_own_columns(chat_model):
    model, tokenizer = chat_model
    pad = tokenizer.pad_token_id
    short = chat_prompt_ids(tokenizer, [{"role": "user", "content": "What is 12 times 12?"}])
    long = chat_prompt_ids(tokenizer, [{"role": "user", "content": "Order 48213 is stuck. " * 12 + "Reply."}])
    follow = tokenizer.encode(" Sure")[:1]
    close = dict(atol=2e-3, rtol=1e-3)
    with torch.inference_mode():
        cache = SlotCache(prepared(model, "fp32", 16), 16, columns=len(long) + 8)
        _, long_at = cache.prefill(list(range(8)), [long] * 8, pad)
        _, short_at = cache.prefill(list(range(8, 16)), [short] * 8, pad)
        # The short rows' run reads only its own columns, not the long rows' width.
        assert cache._attention_pieces() == [(0, 8, len(long) + 1), (8, 16, len(short) + 1)]
        step = cache.step(torch.tensor(follow * 16), torch.cat([long_at, short_at]))
    torch.testing.assert_close(step[0], _alone(model, long, follow)[1], **close)
    torch.testing.assert_close(step[15], _alone(model, short, follow)[1], **close)


def test_kernels_give_pytorchs_results_and_the_choice_is_measured_once():
    x, w = torch.randn(5, 48), torch.randn(40, 48)
    with torch.inference_mode():
        for kernel in kernels.available_kernels():
            torch.testing.assert_close(kernels.kernel_call(kernel, w, None, 5)(x), x @ w.T, atol=1e-4, rtol=1e-4)
        if "mkl_packed" in kernels.available_kernels():
            # Packed for 8 rows: fewer rows run padded (from a third of them up) or on the plain path, more rows
            # on the plain path.
            packed = kernels.kernel_call("mkl_packed", w, None, 8)
            many = torch.randn(12, 48)
            for count in (3, 4, 5, 8, 12):
                torch.testing.assert_close(packed(many[:count]), many[:count] @ w.T, atol=1e-4, rtol=1e-4)
        chosen = kernels.choose_kernel(5, 48, 40)
    assert chosen in kernels.available_kernels()
    [row] = [r for r in kernels.measurements() if (r["rows"], r["in"], r["out"]) == (5, 48, 40)]
    assert row["chosen"] == chosen and set(row["gflops"]) == set(kernels.available_kernels())
    assert kernels.choose_kernel(5, 48, 40) == chosen
    assert kernels.cpu_description()["model"]


def test_int8_weights_keep_each_output_channel_within_half_a_step():
    w = torch.randn(16, 32) * torch.linspace(0.01, 3, 16)[:, None]
    q, scales = kernels.quantize_int8(w)
    assert q.dtype is torch.int8 and scales.shape == (16,)
    assert ((q.float() * scales[:, None] - w).abs() <= scales[:, None] / 2 + 1e-6).all()


@pytest.mark.slow
def test_lower_precision_is_explicit_and_refused_where_it_cannot_run(chat_model):
    model, tokenizer = chat_model
    chats = [[{"role": "user", "content": q}] for q in ("What is the capital of France?", "List three prime numbers.")]
    settings = GenerationSettings(max_new_tokens=16, batch_size=2)
    fp32 = generate_chats(model, tokenizer, chats, settings)
    precisions = ["int8"] + (["bf16"] if kernels.bf16_supported() else [])
    for precision in precisions:
        low = generate_chats(model, tokenizer, chats, settings, precision=precision)
        assert all(0 < g.tokens_out <= 16 for g in low)
        assert "Paris" in low[0].output
    assert [g.output for g in generate_chats(model, tokenizer, chats, settings)] == [g.output for g in fp32]
    with pytest.raises(InvalidInput, match="not a precision"):
        generate_chats(model, tokenizer, chats, settings, precision="fp8")
    from transformers import MistralConfig, MistralForCausalLM

    windowed = MistralForCausalLM(MistralConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                sliding_window=16)).eval()
    with pytest.raises(InvalidInput, match="runs only on the CPU for plain Llama-family models"):
        generate_chats(windowed, tokenizer, chats, settings, precision="int8")


@pytest.mark.slow
def test_a_step_with_guesses_keeps_the_right_ones_and_forgets_the_rest(chat_model):
    model, tokenizer = chat_model
    pad = tokenizer.pad_token_id
    a = chat_prompt_ids(tokenizer, [{"role": "user", "content": "Name three primary colours."}])
    b = chat_prompt_ids(tokenizer, [{"role": "user", "content": "What is 12 times 12?"}])
    with torch.inference_mode():
        greedy = model.generate(input_ids=torch.tensor([a]), max_new_tokens=3, do_sample=False,
                                pad_token_id=pad)[0, len(a):].tolist()
    first, second, third = greedy
    wrong = [t for t in (11, 12, 13) if t != third][:2]
    follow = tokenizer.encode(" Sure")[:1]
    close = dict(atol=2e-3, rtol=1e-3)
    with torch.inference_mode():
        cache = SlotCache(prepared(model, "fp32", 2), 2, columns=len(a) + 8)
        _, at_a = cache.prefill([0], [a], pad)
        _, at_b = cache.prefill([1], [b], pad)
        # Row 0 feeds its greedy token and guesses right once, then wrong twice; row 1 has no guesses.
        logits, positions, kept = cache.step_with_guesses(torch.tensor([first, follow[0]]), torch.cat([at_a, at_b]),
                                                          {0: [second, *wrong]}, 4, pad)
        assert kept == [1, 0]
        assert positions.tolist() == [len(a) + 2, len(b) + 1] and cache.lengths == [len(a) + 2, len(b) + 1]
        torch.testing.assert_close(logits[0], _alone(model, a, [first, second])[2], **close)
        torch.testing.assert_close(logits[1], _alone(model, b, follow)[1], **close)
        assert int(logits[0].argmax()) == third
        # The wrong guesses are forgotten: the next plain step sees the prompt and the kept tokens only.
        step = cache.step(torch.tensor([third, follow[0]]), positions)
    torch.testing.assert_close(step[0], _alone(model, a, [first, second, third])[3], **close)
    torch.testing.assert_close(step[1], _alone(model, b, follow * 2)[2], **close)


@pytest.mark.slow
@pytest.mark.skipif(not kernels.bf16_supported(), reason="the bf16 screen runs only where the CPU has bf16 kernels")
def test_the_greedy_vocabulary_projection_returns_the_fp32_argmax_even_for_near_ties(chat_model):
    from core.inference.slots import _ArgmaxHead

    model, tokenizer = chat_model
    prompts = ["What is the capital of Japan?", "Write a haiku about autumn leaves.", "Order 48213 is stuck. " * 6]
    with torch.inference_mode():
        hidden = torch.cat([model.model(input_ids=torch.tensor([chat_prompt_ids(
            tokenizer, [{"role": "user", "content": p}])])).last_hidden_state[0] for p in prompts])
        weight = model.lm_head.weight.detach()
        assert hidden.shape[0] > 60
        exact = hidden @ weight.T
        head = _ArgmaxHead(weight)
        assert torch.equal(head(hidden).argmax(dim=-1), exact.argmax(dim=-1))
        # The bound the screen rests on holds for every token of every row.
        low = torch.nn.functional.linear(hidden.to(torch.bfloat16), head.low).float()
        assert ((low - exact).abs() <= head.coefficient * hidden.norm(dim=1, keepdim=True) * head.norms).all()
        # Two tokens 1e-4 apart, far below what bf16 resolves, their weights also differing across x (which leaves
        # their fp32 logits alone but not their bf16 rounding): the screen keeps both and fp32 decides.
        x = hidden[-1]
        first, second = exact[-1].topk(2).indices.tolist()
        generator = torch.Generator().manual_seed(0)
        for trial in range(16):
            gap = 1e-4 if trial % 2 else -1e-4
            across = torch.randn(x.shape, generator=generator)
            across -= across.dot(x) / x.dot(x) * x
            tied = weight.clone()
            tied[second] = tied[first] + gap * x / x.dot(x) + 0.05 * across / across.norm()
            winner = second if gap > 0 else first
            assert int((tied @ x).argmax()) == winner
            assert int(_ArgmaxHead(tied)(x[None]).argmax()) == winner
