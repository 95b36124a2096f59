"""Batched generation on the real bundled model: same answers as one-at-a-time greedy decoding, in input order."""
import pytest

from core.errors import InvalidInput
from core.inference.generate import GenerationSettings, generate_chats
from core.models import bundled
from core.models.loading import load_causal_lm

QUESTIONS = ["What is the capital of France?", "List three prime numbers.",
             "Our customer writes that order 48213 has been stuck for three weeks and they need it before a marathon "
             "next weekend. Write a short, polite reply.", "What is 2+2? Answer with a number only.",
             "Translate 'good morning' into German."]


@pytest.fixture(scope="module")
def chat_model(shared_models_dir):
    return load_causal_lm(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))


def _single(model, tokenizer, question, max_new_tokens):
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                        return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()


@pytest.mark.slow
def test_batched_greedy_answers_match_one_at_a_time_and_keep_input_order(chat_model):
    model, tokenizer = chat_model
    conversations = [[{"role": "user", "content": q}] for q in QUESTIONS]
    results = generate_chats(model, tokenizer, conversations, GenerationSettings(max_new_tokens=40, batch_size=3))
    expected = [_single(model, tokenizer, q, 40) for q in QUESTIONS]
    assert [r.output for r in results] == expected
    assert "Paris" in results[0].output
    assert all(r.tokens_in > 5 and 0 < r.tokens_out <= 40 and r.latency_s > 0 for r in results)
    assert results[2].tokens_in > results[0].tokens_in


@pytest.mark.slow
def test_length_limit_stop_strings_and_seeded_sampling(chat_model):
    model, tokenizer = chat_model
    conversation = [[{"role": "user", "content": "Count from 1 to 20, separated by commas."}]]
    short = generate_chats(model, tokenizer, conversation, GenerationSettings(max_new_tokens=5))[0]
    assert short.tokens_out == 5 and short.finish_reason == "length"
    stopped = generate_chats(model, tokenizer, conversation, GenerationSettings(max_new_tokens=60, stop=("5",)))[0]
    assert stopped.finish_reason == "stop_string" and "5" not in stopped.output and stopped.output
    sampled = [generate_chats(model, tokenizer, conversation * 2,
                              GenerationSettings(max_new_tokens=20, temperature=0.9, top_p=0.9, seed=7))
               for _ in range(2)]
    assert [r.output for r in sampled[0]] == [r.output for r in sampled[1]]


def test_settings_are_checked_with_sentences():
    with pytest.raises(InvalidInput, match="between 1 and 8192"):
        GenerationSettings(max_new_tokens=0)
    with pytest.raises(InvalidInput, match="Top-p"):
        GenerationSettings(top_p=0)
    for temperature in (-1, 2.5):
        with pytest.raises(InvalidInput, match="between 0 and 2"):
            GenerationSettings(temperature=temperature)


def test_rows_decoding_together_leave_as_many_prompts_waiting_so_the_batch_stays_full():
    from core.inference.generate import rows_for

    assert [rows_for(n, 64) for n in (1, 16, 40, 64, 100, 127, 128, 1000)] == [1, 16, 32, 32, 32, 32, 64, 64]
    assert rows_for(1000, 512) == 256 and rows_for(6, 3) == 3  # the cap the user set always holds


@pytest.mark.slow
def test_prompt_lookup_guesses_save_forward_passes_and_leave_greedy_answers_unchanged(chat_model, monkeypatch):
    import torch

    from core.inference.slots import SlotCache, prepared

    model, tokenizer = chat_model
    questions = ["Repeat this sentence twice: the red fox jumps over the lazy brown dog near the river.",
                 "What is the capital of France?"]
    conversations = [[{"role": "user", "content": q}] for q in questions]
    settings = GenerationSettings(max_new_tokens=40)
    plain = generate_chats(model, tokenizer, conversations, settings, draft_tokens=0)
    # Steps of 2 to 8 rows timed alike (as on a CPU, where a step reads every weight once however many rows it
    # carries): guesses pay wherever one in four is kept. The choice itself is tested in test_drafts.py.
    with torch.inference_mode():
        weights = prepared(model, "fp32", 2)
    weights.step_seconds.update({rows: 0.03 for rows in (2, 4, 6, 8)})
    passes = []
    forward = SlotCache.forward
    monkeypatch.setattr(SlotCache, "forward", lambda self, *a, **k: passes.append(a[1].shape) or forward(self, *a, **k))
    guessed = generate_chats(model, tokenizer, conversations, settings, draft_tokens=3)
    assert [g.output for g in guessed] == [g.output for g in plain]
    assert guessed[0].output == _single(model, tokenizer, questions[0], 40)
    decode_passes = [shape for shape in passes if shape[1] <= 4]  # not the prefill's
    assert any(shape[1] > 1 for shape in decode_passes)
    # Every answer token took a pass of its own without guesses; the repeated sentence needed far fewer.
    assert len(decode_passes) < 0.75 * max(g.tokens_out for g in guessed)
    assert [(g.tokens_out, g.finish_reason) for g in guessed] == [(g.tokens_out, g.finish_reason) for g in plain]
    # Lower precision decodes one token a step, guesses or not: its answers must not depend on timed step widths.
    with torch.inference_mode():
        prepared(model, "int8", 2).step_seconds.update({rows: 0.03 for rows in (2, 4, 6, 8)})
    passes.clear()
    generate_chats(model, tokenizer, conversations, settings, precision="int8", draft_tokens=3)
    assert passes and all(shape[1] == 1 for shape in passes if shape[1] <= 4)
