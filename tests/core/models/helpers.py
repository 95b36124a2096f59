"""Real things for the registry tests: a user's copy of a bundled model, a real LoRA adapter, an OpenAI-compatible
server on loopback. Shared by tests/core/models and tests/cli/test_models_cli.py."""
from __future__ import annotations

import json
import shutil
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from core.models import bundled


def copy_model(shared_models_dir: Path, model: bundled.BundledModel, into: Path) -> Path:
    """A user's own copy of a bundled model folder (what someone downloading a model would have)."""
    shutil.copytree(bundled.store_path(shared_models_dir, model), into,
                    ignore=shutil.ignore_patterns(bundled.COMPLETE_MARKER))
    return into


def make_lora_adapter(shared_models_dir: Path, out: Path) -> Path:
    """A real PEFT LoRA adapter (r=2 on q_proj and v_proj) of the bundled chat model, saved as safetensors."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL),
                                                use_safetensors=True, trust_remote_code=False)
    torch.manual_seed(0)
    peft_model = get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(out, safe_serialization=True)
    return out


SERVER_KEY = "test-key-123"
SERVED_MODELS = ["tiny-chat", "other-model"]


class _OpenAIHandler(BaseHTTPRequestHandler):
    """The two routes of the OpenAI API the workbench uses, checking the bearer key."""

    key = SERVER_KEY
    served = SERVED_MODELS

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.key}":
            self._send(401, {"error": {"message": "Invalid API key", "type": "invalid_request_error"}})
            return False
        return True

    def do_GET(self):
        if self.path.rstrip("/") != "/v1/models":
            return self._send(404, {"error": {"message": "not found"}})
        if self._authorised():
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "test"}
                                                        for m in self.served]})

    def do_POST(self):
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send(404, {"error": {"message": "not found"}})
        if not self._authorised():
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        last = request["messages"][-1]["content"]
        self._send(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": request["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": f"echo: {last}"}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})


class EchoAndPolite(_OpenAIHandler):
    """tiny-chat echoes the last prompt ("echo: ..."); the model "polite" always answers `polite_answer`."""

    served = (*SERVED_MODELS, "polite")
    polite_answer = "Sure, glad to help."

    def do_POST(self):
        if not self._authorised():
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        last = request["messages"][-1]["content"]
        answer = self.polite_answer if request["model"] == "polite" else f"echo: {last}"
        self._send(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": request["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": answer}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})


@contextmanager
def openai_server(handler: type[BaseHTTPRequestHandler] = _OpenAIHandler):
    """A tiny OpenAI-compatible server on 127.0.0.1 (a free port); yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
