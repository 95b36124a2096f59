"""One real `workbench serve` process for the whole session: a temporary home, the bundled models, a few keys."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.governance.roles import SYSTEM
from core.home import open_store
from core.models import bundled, registry
from core.serving import deployments, keys
from core.settings import Settings
from tests.support.waiting import until

CHAT = bundled.DEFAULT_CHAT_MODEL
GATEWAY_KEY_ENV = "WB_TEST_GATEWAY_KEY"


@dataclass
class Served:
    url: str
    keys: dict[str, str]
    store: object
    process: subprocess.Popen
    log: Path

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, key: str = "app", **options):
        from openai import OpenAI

        return OpenAI(base_url=self.base_url, api_key=self.keys.get(key, key), max_retries=0, timeout=300,
                      **options)

    def stats(self) -> dict:
        reply = httpx.get(f"{self.base_url}/scheduler", headers={"Authorization": f"Bearer {self.keys['app']}"})
        return next(s for s in reply.json()["schedulers"] if s["model"] == CHAT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def served(tmp_path_factory, shared_models_dir):
    home = tmp_path_factory.mktemp("serve-home")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'workbench.db'}")
    store = open_store(settings)
    settings.models_dir.rmdir()
    settings.models_dir.symlink_to(shared_models_dir, target_is_directory=True)
    bundled.install_bundled_models(store)
    chat = registry.get_model(store, actor=SYSTEM, name=CHAT)
    # A second name for the same folder, never preloaded: its first request finds it loading (503).
    copy = home / "smollm-copy"
    copy.symlink_to(chat.path, target_is_directory=True)
    registry.register_model(store, actor=SYSTEM, name="smollm-copy", kind="hf_local", task="chat",
                            source="test copy", path=str(copy), details={"context_length": chat.context_length})
    made = {}
    for name, options in {"app": {"scopes": "chat,embeddings,events,feedback"}, "chat-only": {"scopes": "chat"},
                          "only-smol": {"models": [CHAT]}, "to-revoke": {}, "rate": {"rate_limit": "2/min"},
                          "gateway": {}}.items():
        made[name] = keys.create_key(store, actor=SYSTEM, name=name, **options)[1]
    deployments.create_version(store, actor=SYSTEM, name="bot", model=CHAT, defaults={"max_tokens": 6})
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    registry.register_model(store, actor=SYSTEM, name="gateway-smol", kind="openai", task="chat", source="test",
                            details={"info": {"base_url": f"{url}/v1", "model": CHAT, "api_key_env": GATEWAY_KEY_ENV}})
    # An endpoint nobody answers at (a port just found free): every call to it fails at once.
    registry.register_model(store, actor=SYSTEM, name="dead-endpoint", kind="openai", task="chat", source="test",
                            details={"info": {"base_url": f"http://127.0.0.1:{_free_port()}/v1", "model": CHAT,
                                              "api_key_env": GATEWAY_KEY_ENV}})
    env = {**os.environ, "WORKBENCH_HOME": str(home), GATEWAY_KEY_ENV: made["gateway"]}
    env.pop("WORKBENCH_DATABASE_URL", None)
    log = home / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--port", str(port),
                                    "--batch-size", "16"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=Path(__file__).resolve().parents[3])

    def ready():
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text()[-2000:]}")
        try:
            health = httpx.get(f"{url}/health", timeout=5).json()
        except httpx.HTTPError:
            return False
        return CHAT in health["models"] and not health["loading"]

    try:
        until(ready, timeout_s=300, what="the server to load the bundled models")
        yield Served(url=url, keys=made, store=store, process=process, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        store.dispose()
