"""The OpenAI-compatible server, called by the official `openai` client against one real `workbench serve` process."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest

from core.events.query import EventFilter, list_events
from core.governance.roles import SYSTEM
from core.inference import engines
from core.inference.generate import GenerationSettings
from core.serving import keys
from tests.core.serving.conftest import CHAT
from tests.support.waiting import until

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def _generate(served, conversations, max_tokens):
    """What `workbench generate` answers (the same core call), greedy."""
    results = engines.complete_chats(served.store, actor=SYSTEM, model=CHAT, conversations=conversations,
                                     settings=GenerationSettings(max_new_tokens=max_tokens))
    return [r.output for r in results]


def _events(served, **filters):
    return list_events(served.store, actor=SYSTEM, filters=EventFilter(limit=1000, **filters))


def _event_for(served, response_id):
    return until(lambda: next((e for e in _events(served) if e.response_id == response_id), None), timeout_s=60,
                 what=f"the event of {response_id}")


def test_models_lists_deployments_and_registered_models(served):
    ids = {m.id for m in served.client().models.list()}
    assert {"bot", CHAT, "minilm-l6-v2", "smollm-copy"} <= ids
    # A key limited to some models sees only those.
    assert {m.id for m in served.client("only-smol").models.list()} == {CHAT}


def test_a_greedy_chat_answer_equals_generate_and_is_logged_with_its_metadata(served):
    reply = served.client().chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=12, user="u-42",
                                                    metadata={"segment": "pro", "region": "EU"})
    assert reply.choices[0].message.content == _generate(served, [QUESTION], 12)[0]
    assert reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    event = _event_for(served, reply.id)
    assert (event.model, event.application, event.user_id, event.status) == (CHAT, "app", "u-42", "ok")
    assert event.metadata == {"segment": "pro", "region": "EU"}
    assert event.output == reply.choices[0].message.content
    assert event.tokens_out == reply.usage.completion_tokens and event.input == QUESTION
    assert event.latency_s > 0 and event.ttft_s is not None
    assert event.endpoint == "chat"


def test_streaming_gives_the_same_answer_in_deltas_ending_with_done(served):
    plain = served.client().chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=12)
    chunks = list(served.client().chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=12, stream=True,
                                                          stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 2  # token by token, not at once
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    # The raw stream ends with the SSE terminator.
    with httpx.stream("POST", f"{served.base_url}/chat/completions", timeout=300,
                      headers={"Authorization": f"Bearer {served.keys['app']}"},
                      json={"model": CHAT, "messages": QUESTION, "max_tokens": 4, "stream": True}) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_completions_and_a_deployment_named_as_the_model(served):
    text = served.client().completions.create(model=CHAT, prompt="The capital of France is", max_tokens=5)
    assert text.choices[0].text and text.usage.completion_tokens <= 5
    reply = served.client().chat.completions.create(model="bot", messages=QUESTION, user="someone")
    assert reply.usage.completion_tokens <= 6  # the version's default max_tokens
    event = _event_for(served, reply.id)
    assert (event.deployment, event.deployment_version, event.arm, event.model) == ("bot", 1, "primary", CHAT)


def test_embeddings_of_the_bundled_minilm(served):
    from core.models.loading import embed, load_embedding_model
    from core.models import registry

    reply = served.client().embeddings.create(model="minilm-l6-v2", input=["refund my order", "reset my password"],
                                              user="u-emb", extra_body={"metadata": {"segment": "search"}})
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (2, 384)
    model, tokenizer = load_embedding_model(registry.get_model(served.store, actor=SYSTEM, name="minilm-l6-v2").path)
    assert np.allclose(vectors, embed(["refund my order", "reset my password"], model, tokenizer), atol=1e-4)
    # Every call is an event: the texts as given, no output; marked as an embedding call, not a chat answer.
    event = until(lambda: next(iter(_events(served, endpoint="embeddings", where={"segment": "search"})), None),
                  timeout_s=60, what="the embedding call's event")
    assert (event.model, event.application, event.user_id, event.status) == ("minilm-l6-v2", "app", "u-emb", "ok")
    assert event.input == {"input": ["refund my order", "reset my password"]}
    assert (event.output, event.finish_reason, event.tokens_out) == (None, None, None)
    assert event.tokens_in == reply.usage.prompt_tokens and event.latency_s > 0


def _events_by_arm(served, deployment, response_id):
    def both():
        logged = [e for e in _events(served, deployment=deployment) if e.response_id == response_id]
        return {e.arm: e for e in logged} if len(logged) == 2 else None
    return until(both, timeout_s=60, what=f"the primary's and the fallback's events of {response_id}")


def _status(call):
    with pytest.raises(openai.APIStatusError) as caught:
        call()
    error = caught.value.body
    assert set(error) >= {"message", "type", "param", "code"}, error  # OpenAI's shape, no traceback
    assert "Traceback" not in error["message"]
    return caught.value.status_code, caught.value.response.headers


def test_every_error_is_openai_shaped_with_the_right_status(served):
    app = served.client()
    assert _status(lambda: app.chat.completions.create(model=CHAT, messages=QUESTION, temperature=5))[0] == 400
    assert _status(lambda: app.chat.completions.create(model=CHAT, messages=[], max_tokens=3))[0] == 400
    assert _status(lambda: app.chat.completions.create(model=CHAT, messages=QUESTION, n=2))[0] == 400
    bad_json = httpx.post(f"{served.base_url}/chat/completions", content=b"{not json",
                          headers={"Authorization": f"Bearer {served.keys['app']}"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    assert _status(lambda: served.client("wb-wrong").chat.completions.create(model=CHAT, messages=QUESTION))[0] == 401
    assert httpx.get(f"{served.base_url}/models").status_code == 401
    assert _status(lambda: served.client("chat-only").embeddings.create(model="minilm-l6-v2", input="x"))[0] == 403
    assert _status(lambda: served.client("only-smol").chat.completions.create(model="bot", messages=QUESTION))[0] == 403
    assert _status(lambda: app.chat.completions.create(model="no-such-model", messages=QUESTION))[0] == 404
    long = [{"role": "user", "content": "hello " * 9000}]
    assert _status(lambda: app.chat.completions.create(model=CHAT, messages=long, max_tokens=3))[0] == 413
    rate = served.client("rate")
    for _ in range(2):
        rate.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=1)
    status, headers = _status(lambda: rate.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=1))
    assert status == 429 and int(headers["retry-after"]) >= 1
    status, headers = _status(lambda: app.chat.completions.create(model="smollm-copy", messages=QUESTION, max_tokens=2))
    assert status == 503 and int(headers["retry-after"]) >= 1
    # Once loaded, the same model answers.
    until(lambda: "smollm-copy" in httpx.get(f"{served.url}/health").json()["models"], timeout_s=300,
          what="smollm-copy to load")
    assert app.chat.completions.create(model="smollm-copy", messages=QUESTION, max_tokens=2).choices[0].message


def test_a_request_chooses_its_precision_and_gets_its_own_decode_loop_on_the_same_weights(served):
    app = served.client()
    assert _status(lambda: app.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=3,
                                                       extra_body={"precision": "fp8"}))[0] == 400
    ask = lambda: app.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=12,  # noqa: E731
                                              extra_body={"precision": "bf16"})

    def loaded():
        try:
            return ask()
        except openai.APIStatusError as exc:  # 503 model_loading while the bf16 weights are arranged
            assert exc.status_code == 503, exc.body
            return None

    answer = until(loaded, timeout_s=300, what="the bf16 decode loop to load").choices[0].message.content
    bf16 = engines.complete_chats(served.store, actor=SYSTEM, model=CHAT, conversations=[QUESTION],
                                  settings=GenerationSettings(max_new_tokens=12), precision="bf16")[0].output
    assert answer == bf16  # the same lean path in-process and behind HTTP
    schedulers = httpx.get(f"{served.base_url}/scheduler",
                           headers={"Authorization": f"Bearer {served.keys['app']}"}).json()["schedulers"]
    paths = {(s["model"], s["precision"], s["path"]) for s in schedulers}
    assert {(CHAT, "fp32", "lean"), (f"{CHAT} (bf16)", "bf16", "lean")} <= paths, paths


def test_a_revoked_key_is_refused_at_once(served):
    client = served.client("to-revoke")
    assert client.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=1).choices
    keys.revoke_key(served.store, actor=SYSTEM, name="to-revoke")
    assert _status(lambda: client.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=1))[0] == 401


def test_sixteen_concurrent_requests_are_answered_correctly_in_one_running_batch(served):
    conversations = [[{"role": "user", "content": f"Name one thing about the number {i}."}] for i in range(16)]
    before = served.stats()
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda messages: served.client().chat.completions.create(
            model=CHAT, messages=messages, max_tokens=10), conversations))
    after = served.stats()
    assert [r.choices[0].message.content for r in replies] == _generate(served, conversations, 10)
    ran = {int(size): after["batch_sizes"].get(size, 0) - before["batch_sizes"].get(size, 0)
           for size in after["batch_sizes"]}
    assert max(size for size, steps in ran.items() if steps > 0) >= 8, ran
    # Far fewer decode steps than answering them one at a time would take.
    assert sum(ran.values()) < sum(r.usage.completion_tokens for r in replies) / 2, ran


def test_a_client_that_disconnects_mid_stream_frees_its_slot(served):
    before = served.stats()["cancelled"]
    with httpx.stream("POST", f"{served.base_url}/chat/completions", timeout=300,
                      headers={"Authorization": f"Bearer {served.keys['app']}"},
                      json={"model": CHAT, "messages": [{"role": "user", "content": "Write a long story."}],
                            "max_tokens": 400, "stream": True}) as response:
        lines = response.iter_lines()
        received = [line for line in (next(lines) for _ in range(6)) if line.startswith("data:")]
    assert received
    until(lambda: served.stats()["cancelled"] > before, timeout_s=120, what="the row to be cancelled")
    until(lambda: served.stats()["waiting"] == 0, timeout_s=60, what="an empty queue")


def test_feedback_and_events_posted_by_applications_land_in_the_event_log(served):
    app = served.client()
    reply = app.chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=2)
    _event_for(served, reply.id)
    headers = {"Authorization": f"Bearer {served.keys['app']}"}
    thumbs = httpx.post(f"{served.base_url}/feedback", headers=headers,
                        json={"response_id": reply.id, "score": 1, "comment": "right"})
    assert thumbs.status_code == 200, thumbs.text
    assert _event_for(served, reply.id).feedback_score == 1.0
    ndjson = "\n".join(json.dumps({"model": "elsewhere-model", "input": "hi", "output": f"hello {i}",
                                   "metadata": {"campaign": "spring"}}) for i in range(2))
    posted = httpx.post(f"{served.base_url}/events", headers=headers, content=ndjson)
    assert posted.status_code == 200 and posted.json()["events"] == 2
    logged = _events(served, model="elsewhere-model")
    assert {e.application for e in logged} == {"app"} and {e.source for e in logged} == {"http"}
    refused = httpx.post(f"{served.base_url}/events", headers={"Authorization": f"Bearer {served.keys['chat-only']}"},
                         content=ndjson)
    assert refused.status_code == 403


def test_an_endpoint_model_is_served_through_the_gateway_and_logged(served):
    direct = served.client().chat.completions.create(model=CHAT, messages=QUESTION, max_tokens=8)
    through = served.client().chat.completions.create(model="gateway-smol", messages=QUESTION, max_tokens=8)
    assert through.choices[0].message.content == direct.choices[0].message.content
    assert _event_for(served, through.id).model == "gateway-smol"


def test_completions_are_forwarded_to_an_endpoint_and_its_failure_is_an_openai_error(served):
    prompt = "The capital of France is"
    direct = served.client().completions.create(model=CHAT, prompt=prompt, max_tokens=6)
    through = served.client().completions.create(model="gateway-smol", prompt=prompt, max_tokens=6)
    assert through.choices[0].text == direct.choices[0].text and through.usage == direct.usage
    event = _event_for(served, through.id)
    assert (event.model, event.endpoint, event.input, event.output) == (
        "gateway-smol", "completions", {"prompt": prompt}, direct.choices[0].text)
    streamed = served.client().completions.create(model="gateway-smol", prompt=prompt, max_tokens=6, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == direct.choices[0].text
    status, _ = _status(lambda: served.client().completions.create(model="dead-endpoint", prompt=prompt,
                                                                   max_tokens=2))
    assert status == 502


def test_a_streamed_request_falls_back_when_the_primary_fails_or_times_out_before_its_first_token(served):
    from core.serving import deployments

    deployments.create_version(served.store, actor=SYSTEM, name="dead-first", model="dead-endpoint",
                               fallback_model=CHAT, defaults={"max_tokens": 8})
    deployments.create_version(served.store, actor=SYSTEM, name="slow-first", model=CHAT, fallback_model=CHAT,
                               timeout_s=0.001, defaults={"max_tokens": 8})
    expected = _generate(served, [QUESTION], 8)[0]
    for name in ("dead-first", "slow-first"):
        chunks = list(served.client().chat.completions.create(model=name, messages=QUESTION, stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected, name
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
        by_arm = _events_by_arm(served, name, chunks[0].id)
        assert (by_arm["primary"].status, by_arm["fallback"].status) == ("error", "ok"), name
        assert by_arm["fallback"].output == expected and by_arm["fallback"].model == CHAT
    # Not streamed, the same fallback answers.
    plain = served.client().chat.completions.create(model="dead-first", messages=QUESTION)
    assert plain.choices[0].message.content == expected
