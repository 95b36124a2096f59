"""OpenAI-compatible HTTP endpoints (vLLM, llama.cpp server, Ollama, OpenAI) through the official `openai` client.

The registry stores only the NAME of the environment variable or Streamlit secret that holds an API key; the key
itself is looked up when a request is made and never written to the database, the audit log or a page.
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.errors import InvalidInput, Unavailable

_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127})*$")
# Servers that run without a key (vLLM, llama.cpp, Ollama) accept any; the client insists on one.
NO_KEY = "not-needed"
DEFAULT_TIMEOUT_S = 10.0


def check_base_url(base_url: str) -> str:
    url = (base_url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"'{base_url}' is not an http(s) URL; give the server's base URL, e.g. "
                           "http://localhost:8000/v1.")
    if parts.username or parts.password:
        raise InvalidInput("The endpoint URL must not hold a user name or password; put the API key in an "
                           "environment variable or secret and give its name.")
    return url.rstrip("/")


def check_key_name(name: str | None) -> str | None:
    """The name of an environment variable or secret (letters, digits, underscores; dots for secret sections)."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    if not _VARIABLE_RE.match(name):
        raise InvalidInput("Give the NAME of the environment variable or secret that holds the API key (letters, "
                           "digits and underscores, like OPENAI_API_KEY), never the key itself.")
    return name


def secrets_files() -> list[Path]:
    """Where Streamlit reads secrets.toml from (the later file wins): the user's, then the working folder's."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path.cwd() / ".streamlit" / "secrets.toml"]


def _from_secrets(name: str, secrets: Mapping[str, Any] | None) -> str | None:
    sources: list[Mapping[str, Any]] = [secrets] if secrets is not None else []
    for file in reversed(secrets_files()):
        if file.is_file():
            try:
                sources.append(tomllib.loads(file.read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError):
                continue
    for source in sources:
        value: Any = source
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None


def api_key(name: str | None, secrets: Mapping[str, Any] | None = None) -> str:
    """The key held by environment variable `name`, else by the Streamlit secret `name`; a sentence when neither."""
    if not name:
        return NO_KEY
    value = os.environ.get(name) or _from_secrets(name, secrets)
    if not value:
        raise Unavailable(f"The API key is not set: there is no environment variable or Streamlit secret named {name}.",
                          hint=f"Set {name} in the environment of the workbench, or in .streamlit/secrets.toml.")
    return value


def client(base_url: str, api_key_env: str | None, *, timeout: float = DEFAULT_TIMEOUT_S,
           secrets: Mapping[str, Any] | None = None):
    """An `openai.OpenAI` client for the endpoint; no retries, so an unreachable server is reported promptly."""
    try:
        from openai import OpenAI
    except ImportError:  # pragma: no cover - a dependency of the project
        raise Unavailable("The openai package is not installed; run `make setup`.") from None
    return OpenAI(base_url=base_url, api_key=api_key(api_key_env, secrets), timeout=timeout, max_retries=0)


def _unreachable(base_url: str, exc: Exception) -> Unavailable:
    import openai

    if isinstance(exc, openai.AuthenticationError):
        return Unavailable(f"The endpoint {base_url} refused the API key (HTTP 401).",
                           hint="Check the key held by the environment variable or secret.")
    if isinstance(exc, openai.APIStatusError):
        return Unavailable(f"The endpoint {base_url} answered HTTP {exc.status_code}; is it an OpenAI-compatible "
                           "server (the base URL usually ends in /v1)?")
    if isinstance(exc, openai.APITimeoutError):
        return Unavailable(f"The endpoint {base_url} did not answer in time.")
    return Unavailable(f"The endpoint {base_url} cannot be reached ({type(exc).__name__}); is the server running?")


@dataclass(frozen=True)
class EndpointCheck:
    base_url: str
    model: str
    served_models: list[str]

    @property
    def model_served(self) -> bool:
        return self.model in self.served_models

    @property
    def message(self) -> str:
        if self.model_served:
            return f"{self.base_url} answers and serves {self.model}."
        shown = ", ".join(self.served_models[:10]) or "none"
        return f"{self.base_url} answers but does not list {self.model} (it lists: {shown})."

    def to_dict(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "served_models": self.served_models,
                "model_served": self.model_served, "message": self.message}


def check(base_url: str, model: str, api_key_env: str | None, *, timeout: float = DEFAULT_TIMEOUT_S,
          secrets: Mapping[str, Any] | None = None) -> EndpointCheck:
    """Asks the server for its models (GET /models): proves it answers, the key works and the model is there."""
    import openai

    try:
        served = sorted(m.id for m in client(base_url, api_key_env, timeout=timeout, secrets=secrets).models.list())
    except openai.OpenAIError as exc:
        raise _unreachable(base_url, exc) from None
    return EndpointCheck(base_url=base_url, model=model, served_models=served)


def chat(base_url: str, model: str, api_key_env: str | None, messages: list[dict], *, max_tokens: int = 256,
         temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None, stop: list[str] | None = None,
         timeout: float = 60.0, secrets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One chat completion: {'output', 'tokens_in', 'tokens_out', 'finish_reason'}."""
    import openai

    extra: dict[str, Any] = {"top_p": top_p} if top_p < 1 else {}
    if seed is not None:
        extra["seed"] = seed
    if stop:
        extra["stop"] = stop[:4]  # the OpenAI API takes up to four stop strings
    try:
        response = client(base_url, api_key_env, timeout=timeout, secrets=secrets).chat.completions.create(
            model=model, messages=messages, max_tokens=max_tokens, temperature=temperature, **extra)
    except openai.OpenAIError as exc:
        raise _unreachable(base_url, exc) from None
    choice = response.choices[0]
    usage = response.usage
    return {"output": choice.message.content or "", "finish_reason": choice.finish_reason,
            "tokens_in": usage.prompt_tokens if usage else None, "tokens_out": usage.completion_tokens if usage else None}
