"""The decode loop that admits requests between steps: same answers as generate, bounded queue, cancellation."""
import pytest

from core.governance.roles import SYSTEM
from core.inference import engines
from core.inference.generate import GenerationSettings, chat_prompt_ids
from core.models import bundled
from core.serving.scheduler import QueueFull, Request, Scheduler
from tests.support.waiting import until

pytestmark = pytest.mark.slow
CHAT = bundled.DEFAULT_CHAT_MODEL


@pytest.fixture
def loaded(models_store):
    model, tokenizer, _ = engines.chat_model_for(models_store, actor=SYSTEM, name=CHAT)
    return models_store, model, tokenizer


def test_requests_joining_a_running_batch_get_generates_answers(loaded):
    store, model, tokenizer = loaded
    conversations = [[{"role": "user", "content": f"Say something about {topic}."}]
                     for topic in ("tea", "rain", "maps", "owls", "glass", "salt")]
    settings = GenerationSettings(max_new_tokens=8)
    expected = [g.output for g in engines.complete_chats(store, actor=SYSTEM, model=CHAT, conversations=conversations,
                                                         settings=settings)]
    scheduler = Scheduler(model, tokenizer, name=CHAT, batch_size=4)
    try:
        requests = [scheduler.submit(Request(prompt=chat_prompt_ids(tokenizer, c), settings=settings))
                    for c in conversations]
        for request in requests:
            assert request.done.wait(300)
        assert [r.output for r in requests] == expected
        assert max(scheduler.batch_sizes) == 4 and scheduler.completed == 6  # six rows through four slots
        # A sampled row's answer depends on its seed, not on its neighbours.
        sampled = GenerationSettings(max_new_tokens=6, temperature=0.9, seed=7)
        alone = scheduler.submit(Request(prompt=requests[0].prompt, settings=sampled))
        alone.done.wait(300)
        crowd = [scheduler.submit(Request(prompt=r.prompt, settings=sampled if i == 0 else settings))
                 for i, r in enumerate(requests[:3])]
        crowd[0].done.wait(300)
        assert crowd[0].output == alone.output
    finally:
        scheduler.close()


def test_on_the_lean_path_late_requests_grow_the_slots_and_answers_stay_those_of_generate(loaded):
    store, model, tokenizer = loaded
    conversations = [[{"role": "user", "content": f"Write a line about {topic}."}]
                     for topic in ("bread", "snow", "ink", "bees")]
    long, short = GenerationSettings(max_new_tokens=48), GenerationSettings(max_new_tokens=6)
    expected_long = engines.complete_chats(store, actor=SYSTEM, model=CHAT, conversations=conversations[:1],
                                           settings=long)[0].output
    expected = [g.output for g in engines.complete_chats(store, actor=SYSTEM, model=CHAT,
                                                         conversations=conversations[1:], settings=short)]
    scheduler = Scheduler(model, tokenizer, name=CHAT, batch_size=8)
    assert scheduler.lean and scheduler.stats()["path"] == "lean"
    try:
        first = scheduler.submit(Request(prompt=chat_prompt_ids(tokenizer, conversations[0]), settings=long))
        until(lambda: len(first.tokens) >= 2, timeout_s=300, what="the first request to decode alone")
        late = [scheduler.submit(Request(prompt=chat_prompt_ids(tokenizer, c), settings=short))
                for c in conversations[1:]]
        for request in [first, *late]:
            assert request.done.wait(300)
        assert first.output == expected_long and [r.output for r in late] == expected
        assert 1 in scheduler.batch_sizes and max(scheduler.batch_sizes) == 4  # one row, then four, never eight
    finally:
        scheduler.close()


def test_greedy_requests_keep_prompt_lookup_guesses_and_sampled_neighbours_stay_their_own(loaded):
    import torch

    from core.inference.slots import prepared

    store, model, tokenizer = loaded
    echo = [{"role": "user", "content": "Repeat this sentence twice: the red fox jumps over the lazy brown dog."}]
    greedy, sampled = GenerationSettings(max_new_tokens=40), GenerationSettings(max_new_tokens=12, temperature=0.9,
                                                                                seed=3)
    expected = engines.complete_chats(store, actor=SYSTEM, model=CHAT, conversations=[echo], settings=greedy)[0].output
    scheduler = Scheduler(model, tokenizer, name=CHAT, batch_size=2)
    try:
        prompt = chat_prompt_ids(tokenizer, echo)
        alone = scheduler.submit(Request(prompt=prompt, settings=sampled))
        assert alone.done.wait(300)
        # Steps of 2 to 8 rows timed alike, as a CPU step reading every weight once is: guesses pay (the choice
        # itself is tested in tests/core/inference/test_drafts.py).
        with torch.inference_mode():
            prepared(model, "fp32", 2).step_seconds.update({rows: 0.03 for rows in (2, 4, 6, 8)})
        with scheduler.model_lock:  # admitted together
            rows = [scheduler.submit(Request(prompt=prompt, settings=s)) for s in (greedy, sampled)]
        for request in rows:
            assert request.done.wait(300)
        assert rows[0].output == expected and scheduler.stats()["guessed_tokens"] > 0
        assert rows[1].output == alone.output  # a sampled row carries no guesses and keeps its seeded answer
    finally:
        scheduler.close()


def test_a_full_queue_refuses_and_a_cancelled_request_leaves(loaded):
    _, model, tokenizer = loaded
    scheduler = Scheduler(model, tokenizer, name=CHAT, batch_size=1, max_waiting=2)
    prompt = chat_prompt_ids(tokenizer, [{"role": "user", "content": "Tell me a long story."}])
    settings = GenerationSettings(max_new_tokens=200)
    try:
        with scheduler.model_lock:  # the loop takes the first request, then waits for the model between steps
            first = scheduler.submit(Request(prompt=prompt, settings=settings))
            until(lambda: scheduler.stats()["waiting"] == 0, what="the first request to be taken")
            queued = [scheduler.submit(Request(prompt=prompt, settings=settings)) for _ in range(2)]
            with pytest.raises(QueueFull):
                scheduler.submit(Request(prompt=prompt, settings=settings))
            for request in [first, *queued]:
                request.cancel()
        for request in [first, *queued]:
            assert request.done.wait(120) and request.finish_reason == "cancelled"
        assert scheduler.cancelled == 3 and len(first.tokens) < 200
    finally:
        scheduler.close()


def _adapter(shared_models_dir, folder, seed):
    import torch
    from safetensors.torch import load_file, save_file

    from tests.core.models.helpers import make_lora_adapter

    path = make_lora_adapter(shared_models_dir, folder)
    weights = load_file(path / "adapter_model.safetensors")
    torch.manual_seed(seed)  # a fresh LoRA has B=0: give it weights that change the answers
    save_file({k: torch.randn_like(v) * 0.5 for k, v in weights.items()}, path / "adapter_model.safetensors")
    return path


def test_two_adapters_and_their_base_share_one_model_and_one_batch(models_store, shared_models_dir, tmp_path):
    from core.models import registry, sources
    from core.serving.pool import ModelLoading, ModelPool

    store = models_store
    for name, seed in (("tuned-a", 1), ("tuned-b", 2)):
        sources.add_adapter(store, actor=SYSTEM, name=name, path=_adapter(shared_models_dir, tmp_path / name, seed),
                            base_model=CHAT)
    settings = GenerationSettings(max_new_tokens=8)
    conversation = [{"role": "user", "content": "What is the capital of France?"}]
    expected = {name: engines.complete_chats(store, actor=SYSTEM, model=name, conversations=[conversation],
                                             settings=settings)[0].output for name in ("tuned-a", "tuned-b")}
    assert expected["tuned-a"] != expected["tuned-b"]
    pool = ModelPool(store, batch_size=8)
    try:
        def ready(name):
            try:
                return pool.chat(registry.get_model(store, actor=SYSTEM, name=name))
            except ModelLoading:
                return None

        scheduler_a, key_a = until(lambda: ready("tuned-a"), timeout_s=300, what="tuned-a to load")
        scheduler_b, key_b = until(lambda: ready("tuned-b"), timeout_s=300, what="tuned-b to load")
        assert scheduler_a is scheduler_b and key_a != key_b  # one PeftModel holds both adapters
        prompt = chat_prompt_ids(scheduler_a.tokenizer, conversation)
        with scheduler_a.model_lock:  # all three are admitted together
            rows = {key: scheduler_a.submit(Request(prompt=prompt, settings=settings, adapter=key))
                    for key in (key_a, key_b, None)}
        for request in rows.values():
            assert request.done.wait(300)
        assert (rows[key_a].output, rows[key_b].output) == (expected["tuned-a"], expected["tuned-b"])
        base = engines.complete_chats(store, actor=SYSTEM, model=CHAT, conversations=[conversation],
                                      settings=settings)[0].output
        assert rows[None].output == base
        assert max(scheduler_a.batch_sizes) == 3
    finally:
        pool.close()
