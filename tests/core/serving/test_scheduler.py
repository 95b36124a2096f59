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
