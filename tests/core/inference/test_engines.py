"""One call runs any registered chat model: the bundled model, a LoRA adapter on it, an OpenAI-compatible endpoint."""
import json
import threading
from contextlib import contextmanager
from http.server import ThreadingHTTPServer

import pytest

from core.errors import InvalidInput, PermissionDenied, Unavailable
from core.governance.roles import SYSTEM, Role
from core.inference import engines
from core.inference.generate import GenerationSettings
from core.models import bundled, sources
from tests.core.models.helpers import SERVER_KEY, _OpenAIHandler, make_lora_adapter

CHAT = bundled.CHAT_MODEL.name
CONVERSATIONS = [[{"role": "user", "content": "What is the capital of France?"}],
                 [{"role": "user", "content": "Name a colour of the sky."}]]


class _RecordingHandler(_OpenAIHandler):
    """The test server, also keeping each request body so the test can see what was sent."""

    requests: list = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = self.rfile.read(length)
        type(self).requests.append(json.loads(body))
        self.rfile = __import__("io").BytesIO(body)
        super().do_POST()


@contextmanager
def recording_server():
    _RecordingHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_an_adapter_runs_on_its_base_and_matches_plain_peft_without_touching_the_base(models_store, shared_models_dir,
                                                                                     tmp_path):
    import torch
    from peft import PeftModel

    adapter = make_lora_adapter(shared_models_dir, tmp_path / "lora")
    # A freshly initialised LoRA has B=0; give it weights so it really changes the answers.
    from safetensors.torch import load_file, save_file
    weights = load_file(adapter / "adapter_model.safetensors")
    torch.manual_seed(1)
    save_file({k: torch.randn_like(v) * 0.5 for k, v in weights.items()}, adapter / "adapter_model.safetensors")
    sources.add_adapter(models_store, actor=SYSTEM, name="tuned", path=adapter, base_model=CHAT)
    settings = GenerationSettings(max_new_tokens=12)
    base_before = engines.complete_chats(models_store, actor=SYSTEM, model=CHAT, conversations=CONVERSATIONS,
                                         settings=settings)
    tuned = engines.complete_chats(models_store, actor=SYSTEM, model="tuned", conversations=CONVERSATIONS,
                                   settings=settings)
    base_after = engines.complete_chats(models_store, actor=SYSTEM, model=CHAT, conversations=CONVERSATIONS,
                                        settings=settings)
    assert [g.output for g in base_before] == [g.output for g in base_after]
    assert [g.output for g in tuned] != [g.output for g in base_before]

    from core.models.loading import load_causal_lm
    base, tokenizer = load_causal_lm(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))
    plain = PeftModel.from_pretrained(base, str(adapter)).eval()
    ids = tokenizer.apply_chat_template(CONVERSATIONS[0], add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)
    with torch.inference_mode():
        out = plain.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    expected = tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert tuned[0].output == expected


def test_an_endpoint_model_is_called_over_http_with_the_run_settings(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with recording_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY", price_per_1k_input=1.0, price_per_1k_output=2.0)
        done = []
        results = engines.complete_chats(store, actor=SYSTEM, model="remote", conversations=CONVERSATIONS,
                                         settings=GenerationSettings(max_new_tokens=33, temperature=0.5, top_p=0.9,
                                                                     seed=4, stop=("END",)),
                                         progress=lambda n, total: done.append((n, total)))
    assert [r.output for r in results] == ["echo: What is the capital of France?", "echo: Name a colour of the sky."]
    assert (results[0].tokens_in, results[0].tokens_out, results[0].finish_reason) == (5, 3, "stop")
    assert done[-1] == (2, 2)
    sent = _RecordingHandler.requests[0]
    assert (sent["model"], sent["max_tokens"], sent["temperature"], sent["top_p"], sent["seed"], sent["stop"]) == \
        ("tiny-chat", 33, 0.5, 0.9, 4, ["END"])
    info = engines.chat_model_info(store, actor=SYSTEM, name="remote")
    assert engines.cost_usd(info, 1000, 500) == pytest.approx(2.0)


def test_an_endpoint_that_is_down_is_one_sentence(store, monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with recording_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="gone", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
    with pytest.raises(Unavailable, match="cannot be reached"):
        engines.complete_chats(store, actor=SYSTEM, model="gone", conversations=CONVERSATIONS,
                               settings=GenerationSettings(max_new_tokens=4))


def test_embedding_models_and_roles_without_inference_are_refused(models_store, people):
    with pytest.raises(InvalidInput, match="not a chat model"):
        engines.complete_chats(models_store, actor=SYSTEM, model=bundled.EMBEDDING_MODEL.name,
                               conversations=CONVERSATIONS)
    for role in (Role.ANNOTATOR, Role.VIEWER):
        with pytest.raises(PermissionDenied):
            engines.complete_chats(models_store, actor=people[role].as_actor(), model=CHAT,
                                   conversations=CONVERSATIONS)
