"""The OpenAI-compatible HTTP front door (FastAPI): routes validate an OpenAI-shaped request, resolve a deployment
or model, call the scheduler (local models) or forward to an endpoint (gateway), and hand one event per call to
the event writer (core.events) before the answer is acknowledged.

/v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/events, /v1/feedback; /health and
/v1/scheduler (batch sizes the decode loops ran) for operators and tests.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import InvalidInput, NotFound, Unavailable, WorkbenchError
from core.governance.roles import SYSTEM, Actor, Role
from core.inference.generate import GenerationSettings, chat_prompt_ids
from core.models import bundled, endpoints, registry
from core.serving import deployments, errors, guards, keys
from core.serving.errors import ApiError
from core.serving.pool import ModelLoading, ModelPool
from core.serving.scheduler import QueueFull, Request
from core.storage.db import Store

log = logging.getLogger("workbench.serve")
DEFAULT_MAX_TOKENS = 256
LOADING_RETRY_S = 5
WAIT_POLL_S = 0.5


@dataclass
class ServeConfig:
    batch_size: int = 32  # rows decoded together per model
    max_waiting: int = 64  # requests waiting for a slot before 429
    preload: list[str] = field(default_factory=lambda: [bundled.DEFAULT_CHAT_MODEL, bundled.DEFAULT_EMBEDDING_MODEL])
    log_events: bool = True  # hand every call to core.events' writer


@dataclass(frozen=True)
class Target:
    """What answers one request: the registered model, and the deployment version and arm when one was named."""

    requested: str
    info: registry.ModelInfo
    version: deployments.VersionInfo | None = None
    arm: str | None = None

    @property
    def model_name(self) -> str:
        return self.info.base_model if self.info.kind == "adapter" else self.info.name

    @property
    def adapter(self) -> str | None:
        return self.info.name if self.info.kind == "adapter" else None


class RateLimiter:
    """Requests per key per rolling minute."""

    def __init__(self):
        self._seen: dict[str, deque[float]] = {}

    def check(self, key: keys.KeyInfo) -> None:
        if not key.rate_limit_per_min:
            return
        now = time.monotonic()
        seen = self._seen.setdefault(key.name, deque())
        while seen and now - seen[0] >= 60:
            seen.popleft()
        if len(seen) >= key.rate_limit_per_min:
            wait = max(1, math.ceil(60 - (now - seen[0])))
            raise errors.rate_limited(f"The key '{key.name}' is limited to {key.rate_limit_per_min} requests a "
                                      "minute.", wait)
        seen.append(now)


class EventSink:
    """The hand-off to core.events: one EventWriter (durable journal, bulk writes) per server."""

    def __init__(self, store: Store, enabled: bool):
        self.writer = None
        if enabled:
            from core.events.log import EventWriter

            self.writer = EventWriter(store, source="server").start()

    def emit(self, **fields) -> str | None:
        if self.writer is None:
            return None
        from core.events.schema import EventIn

        try:
            return self.writer.submit(EventIn(**fields))[0]
        except WorkbenchError as exc:  # an event the log refuses must not fail the answer already given
            log.warning("event not logged: %s", exc)
            return None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- request parsing ---------------------------------------------------------------------------------------------

def _number(body: dict, name: str, kind, low=None, high=None, *, low_open=False):
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise errors.bad_request(f"'{name}' must be {'an integer' if kind is int else 'a number'}.", name)
    value = kind(value)
    if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
        raise errors.bad_request(f"'{name}' is out of range ({'above' if low_open else 'at least'} {low}"
                                 f"{f', at most {high}' if high is not None else ''}).", name)
    return value


def settings_from(body: dict, defaults: dict[str, Any] | None = None) -> GenerationSettings:
    """Generation settings from the request, the deployment version's defaults filling what it leaves out."""
    defaults = defaults or {}
    if body.get("n") not in (None, 1):
        raise errors.bad_request("Only n=1 is supported.", "n")
    max_tokens = _number(body, "max_completion_tokens", int, 1, 8192)
    if max_tokens is None:
        max_tokens = _number(body, "max_tokens", int, 1, 8192)
    temperature = _number(body, "temperature", float, 0, 2)
    top_p = _number(body, "top_p", float, 0, 1, low_open=True)
    seed = _number(body, "seed", int)
    stop = body.get("stop")
    if stop is None:
        stop = defaults.get("stop") or []
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop):
        raise errors.bad_request("'stop' must be a string or a list of up to 4 strings.", "stop")
    return GenerationSettings(
        max_new_tokens=max_tokens if max_tokens is not None else int(defaults.get("max_tokens", DEFAULT_MAX_TOKENS)),
        temperature=temperature if temperature is not None else float(defaults.get("temperature", 0.0)),
        top_p=top_p if top_p is not None else float(defaults.get("top_p", 1.0)),
        seed=seed if seed is not None else int(defaults.get("seed", 0)),
        stop=tuple(stop), batch_size=1)


def precision_from(body: dict) -> str | None:
    """The workbench's own request field `precision` ("fp32", "bf16", "int8"; like vLLM's extra parameters, OpenAI
    clients pass it through `extra_body`); None leaves the model's precision from the registry."""
    from core.inference.kernels import PRECISIONS

    precision = body.get("precision")
    if precision is not None and precision not in PRECISIONS:
        raise errors.bad_request(f"'precision' must be one of {', '.join(PRECISIONS)}.", "precision")
    return precision


def messages_from(body: dict) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise errors.bad_request("'messages' must be a non-empty list of {role, content} objects.", "messages")
    parsed = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("system", "developer", "user", "assistant",
                                                                           "tool"):
            raise errors.bad_request(f"messages[{index}] needs a role: system, user, assistant or tool.",
                                     f"messages[{index}].role")
        content = message.get("content")
        if isinstance(content, list):  # content parts: only text ones
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise errors.bad_request(f"messages[{index}].content: only text parts are supported.",
                                         f"messages[{index}].content")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise errors.bad_request(f"messages[{index}].content must be text.", f"messages[{index}].content")
        role = "system" if message["role"] == "developer" else message["role"]
        parsed.append({"role": role, "content": content})
    return parsed


def metadata_from(body: dict) -> dict[str, str]:
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > 16 or not all(
            isinstance(k, str) and len(k) <= 64 and isinstance(v, (str, int, float, bool)) and len(str(v)) <= 512
            for k, v in metadata.items()):
        raise errors.bad_request("'metadata' must be an object of up to 16 keys with short text values.", "metadata")
    return {k: str(v) for k, v in metadata.items()}


def user_from(body: dict) -> str | None:
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > 256):
        raise errors.bad_request("'user' must be text of at most 256 characters.", "user")
    return user or None


def _completion_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:24]}"


# --- the application ---------------------------------------------------------------------------------------------

class Server:
    def __init__(self, store: Store, config: ServeConfig):
        self.store, self.config = store, config
        self.pool = ModelPool(store, batch_size=config.batch_size, max_waiting=config.max_waiting)
        self.limiter = RateLimiter()
        self.events = EventSink(store, config.log_events)
        self.started = time.time()

    def preload(self) -> None:
        for name in self.config.preload:
            try:
                self.pool.preload(registry.get_model(self.store, actor=SYSTEM, name=name))
            except WorkbenchError as exc:
                log.warning("not preloaded: %s", exc)

    def close(self) -> None:
        self.pool.close()
        self.events.close()

    # --- keys ---

    def authorise(self, request, scope: str) -> keys.KeyInfo:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        key = keys.authenticate(self.store, token)
        if key is None:
            raise errors.unauthorized()
        if scope not in key.scopes:
            raise errors.forbidden(f"The key '{key.name}' has no '{scope}' scope (it has: {', '.join(key.scopes)}).")
        self.limiter.check(key)
        return key

    def authorise_any(self, request) -> keys.KeyInfo:
        """Any active key may list models (filtered to those it may use)."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
        key = keys.authenticate(self.store, token)
        if key is None:
            raise errors.unauthorized()
        return key

    @staticmethod
    def check_model_allowed(key: keys.KeyInfo, name: str) -> None:
        if not key.allows_model(name):
            raise errors.forbidden(f"The key '{key.name}' may not use '{name}' (it may use: "
                                   f"{', '.join(key.models or [])}).", code="model_not_allowed")

    # --- targets ---

    def target(self, name: Any, user: str | None, *, task: str = "chat") -> Target:
        if not isinstance(name, str) or not name:
            raise errors.bad_request("'model' is required: a deployment or registered model name.", "model")
        resolved = deployments.resolve(self.store, name, user) if task == "chat" else None
        try:
            if resolved is not None:
                info = registry.get_model(self.store, actor=SYSTEM, name=resolved.version.model)
                return Target(requested=name, info=info, version=resolved.version, arm=resolved.arm)
            info = registry.get_model(self.store, actor=SYSTEM, name=name)
        except NotFound:
            raise errors.not_found(f"There is no deployment or model named '{name}'.") from None
        if info.task != task:
            raise errors.bad_request(f"'{name}' is an {info.task} model; this endpoint needs a {task} model.", "model")
        return Target(requested=name, info=info)

    def apply_template(self, target: Target, messages: list[dict], body: dict, metadata: dict) -> tuple[list[dict], str | None]:
        """A deployment version with a prompt template renders it with the request's `variables` (falling back on
        its metadata); the rendered conversation replaces the request's messages."""
        if target.version is None or not target.version.template:
            return messages, None
        from core.prompts import templates

        template = templates.get_version(self.store, actor=SYSTEM, ref=target.version.template)
        variables = body.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise errors.bad_request("'variables' must be an object of template variables.", "variables")
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        values = {"input": last_user, **metadata, **(variables or {})}
        try:
            return template.messages(values), template.ref
        except InvalidInput as exc:
            raise errors.bad_request(f"The deployment's template {template.ref} cannot be filled: {exc.message} "
                                     f"Pass its variables ({', '.join(template.variables)}) as 'variables'.",
                                     "variables") from None

    # --- running ---

    def submit_local(self, target: Target, prompt_of, settings: GenerationSettings, *, stream: bool, loop,
                     precision: str | None = None):
        """Queues the request on the model's decode loop; returns (Request, asyncio.Queue of deltas, done event)."""
        try:
            scheduler, adapter = self.pool.chat(target.info, precision)
        except ModelLoading as exc:
            raise errors.unavailable(exc.message, LOADING_RETRY_S, code="model_loading") from None
        except InvalidInput as exc:
            raise errors.bad_request(exc.message, "precision") from None
        prompt = prompt_of(scheduler.tokenizer)
        if scheduler.context and len(prompt) + settings.max_new_tokens > scheduler.context:
            raise errors.too_large(f"The prompt has {len(prompt)} tokens; with {settings.max_new_tokens} new tokens it "
                                   f"exceeds the model's context of {scheduler.context}.")
        deltas: asyncio.Queue = asyncio.Queue()
        done = asyncio.Event()
        request = Request(prompt=prompt, settings=settings, adapter=adapter,
                          on_delta=(lambda text: loop.call_soon_threadsafe(deltas.put_nowait, text)) if stream else None,
                          on_done=lambda _: loop.call_soon_threadsafe(self._ended, deltas, done, stream))
        try:
            scheduler.submit(request)
        except QueueFull as exc:
            raise errors.rate_limited(exc.message, 1) from None
        return request, deltas, done

    @staticmethod
    def _ended(deltas: asyncio.Queue, done: asyncio.Event, stream: bool) -> None:
        if stream:
            deltas.put_nowait(None)  # after the last delta: the stream ends here
        done.set()

    async def wait(self, request: Request, done: asyncio.Event, http_request, timeout_s: float | None) -> None:
        """Waits for the answer; a client that goes away or a deployment timeout cancels the row."""
        started = time.monotonic()
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), WAIT_POLL_S)
            except asyncio.TimeoutError:
                if await http_request.is_disconnected():
                    request.cancel()
                    raise asyncio.CancelledError
                if timeout_s and time.monotonic() - started > timeout_s:
                    request.cancel()
                    raise Unavailable(f"The model did not answer within {timeout_s:g} s.")

    def forward(self, info: registry.ModelInfo, settings: GenerationSettings, *, messages: list[dict] | None = None,
                prompt: str | None = None) -> dict:
        """The request sent on to a registered OpenAI-compatible endpoint (the server as a logging gateway): a chat
        completion for `messages`, a completion for `prompt`. {'output', 'tokens_in', 'tokens_out',
        'finish_reason'}; Unavailable when the endpoint fails (answered as 502)."""
        base_url, model = info.info.get("base_url"), info.info.get("model")
        if not base_url or not model:
            raise Unavailable(f"The endpoint model '{info.name}' has no base URL or served model name.")
        if messages is not None:
            return endpoints.chat(base_url, model, info.info.get("api_key_env"), messages,
                                  max_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                  top_p=settings.top_p, seed=settings.seed, stop=list(settings.stop) or None)
        return forward_completion(base_url, model, info.info.get("api_key_env"), prompt, settings)


def forward_completion(base_url: str, model: str, api_key_env: str | None, prompt: str,
                       settings: GenerationSettings, *, timeout: float = 60.0) -> dict:
    """One plain-text completion (POST /completions) from an OpenAI-compatible endpoint."""
    import openai

    extra: dict[str, Any] = {"top_p": settings.top_p} if settings.top_p < 1 else {}
    if settings.stop:
        extra["stop"] = list(settings.stop)[:4]
    try:
        response = endpoints.client(base_url, api_key_env, timeout=timeout).completions.create(
            model=model, prompt=prompt, max_tokens=settings.max_new_tokens, temperature=settings.temperature,
            seed=settings.seed, **extra)
    except openai.OpenAIError as exc:
        raise endpoints._unreachable(base_url, exc) from None
    choice, usage = response.choices[0], response.usage
    return {"output": choice.text or "", "finish_reason": choice.finish_reason,
            "tokens_in": usage.prompt_tokens if usage else None, "tokens_out": usage.completion_tokens if usage else None}


def _sse(data: dict | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode("utf-8")


def _openai_reason(reason: str | None) -> str:
    """OpenAI's finish reason for ours (stop_string is a stop; an endpoint's content_filter stays one)."""
    return reason if reason in ("length", "content_filter") else "stop"


def create_app(store: Store, config: ServeConfig | None = None):
    server = Server(store, config or ServeConfig())

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app):
        server.preload()
        yield
        server.close()

    app = FastAPI(title="LLMOps Workbench serving", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.server = server

    def error_response(error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(ApiError)
    async def _api_error(_request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(WorkbenchError)
    async def _workbench_error(_request, exc: WorkbenchError):
        return error_response(errors.from_workbench(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request, exc):
        return error_response(errors.bad_request("The request body is not valid."))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request, exc):
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return error_response(ApiError(exc.status_code, str(exc.detail), type=kind, code=None))

    @app.exception_handler(Exception)
    async def _unexpected(_request, exc):
        log.error("unexpected failure", exc_info=exc)
        return error_response(errors.internal())

    async def body_of(http_request) -> dict:
        try:
            body = await http_request.json()
        except (ValueError, UnicodeDecodeError):
            raise errors.bad_request("The request body is not JSON.") from None
        if not isinstance(body, dict):
            raise errors.bad_request("The request body must be a JSON object.")
        return body

    @app.get("/health")
    async def health():
        return {"status": "ok", "loading": server.pool.loading(),
                "models": [s.name for s in server.pool.schedulers()]}

    @app.get("/v1/scheduler")
    async def scheduler_stats(http_request: HttpRequest):
        server.authorise(http_request, "chat")
        return {"schedulers": [s.stats() for s in server.pool.schedulers()]}

    @app.get("/v1/models")
    async def list_models(http_request: HttpRequest):
        key = server.authorise_any(http_request)
        found = [{"id": d.name, "object": "model", "created": int(d.created_at.timestamp()),
                  "owned_by": f"deployment v{d.current_version}"}
                 for d in deployments.list_deployments(store, actor=SYSTEM) if d.current_version]
        found += [{"id": m.name, "object": "model", "created": int(m.created_at.timestamp()), "owned_by": m.kind}
                  for m in registry.list_models(store, actor=SYSTEM) if m.task in ("chat", "embedding")]
        return {"object": "list", "data": [m for m in found if key.allows_model(m["id"])]}

    async def run_text(http_request, *, kind: str):
        """Chat completions (kind 'chat') and completions (kind 'text')."""
        key = server.authorise(http_request, "chat")
        body = await body_of(http_request)
        stream = bool(body.get("stream"))
        user, metadata = user_from(body), metadata_from(body)
        if kind == "chat":
            messages = messages_from(body)
        else:
            prompt = body.get("prompt")
            if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
                prompt = prompt[0]
            if not isinstance(prompt, str) or not prompt:
                raise errors.bad_request("'prompt' must be one non-empty string.", "prompt")
        name = body.get("model")
        target = server.target(name, user)
        server.check_model_allowed(key, target.requested)
        version_dict = target.version.to_dict() if target.version else None
        settings = settings_from(body, target.version.defaults if target.version else None)
        precision = precision_from(body)
        template_ref = None
        if kind == "chat":
            messages, template_ref = server.apply_template(target, messages, body, metadata)
            messages, input_hits, blocked = guards.apply_input(version_dict, messages)
            event_input: Any = messages
        else:
            input_hits, blocked = [], None
            event_input = {"prompt": prompt}
        endpoint = "chat" if kind == "chat" else "completions"
        response_id = _completion_id("chatcmpl" if kind == "chat" else "cmpl")
        created = int(time.time())
        began = time.perf_counter()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) if stream else False

        def event(target: Target, **fields) -> str | None:
            return server.events.emit(
                model=target.model_name, adapter=target.adapter, input=event_input, response_id=response_id,
                deployment=target.version.deployment if target.version else None,
                deployment_version=target.version.version if target.version else None, arm=target.arm,
                template_version=template_ref, application=key.name, user_id=user, metadata=metadata,
                endpoint=endpoint, **fields)

        def payload(text: str, reason: str, tokens_in: int, tokens_out: int) -> dict:
            usage = {"prompt_tokens": tokens_in, "completion_tokens": tokens_out, "total_tokens": tokens_in + tokens_out}
            if kind == "chat":
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason,
                          "logprobs": None}
                return {"id": response_id, "object": "chat.completion", "created": created, "model": name,
                        "choices": [choice], "usage": usage, "system_fingerprint": None}
            return {"id": response_id, "object": "text_completion", "created": created, "model": name,
                    "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": None}], "usage": usage}

        def chunk(delta: str | None, reason: str | None = None, role: bool = False) -> dict:
            if kind == "chat":
                content = {"role": "assistant", "content": ""} if role else ({"content": delta} if delta else {})
                choice = {"index": 0, "delta": content, "finish_reason": reason, "logprobs": None}
                return {"id": response_id, "object": "chat.completion.chunk", "created": created, "model": name,
                        "choices": [choice]}
            return {"id": response_id, "object": "text_completion", "created": created, "model": name,
                    "choices": [{"index": 0, "text": delta or "", "finish_reason": reason, "logprobs": None}]}

        def prompt_of(tokenizer):
            if kind == "chat":
                try:
                    return chat_prompt_ids(tokenizer, messages)
                except Exception as exc:  # a template that refuses the conversation (roles out of order...)
                    raise errors.bad_request(f"The model's chat template refused the messages: {exc}",
                                             "messages") from None
            return list(tokenizer(prompt)["input_ids"])

        def forward(target: Target) -> dict:
            if kind == "chat":
                return server.forward(target.info, settings, messages=messages)
            return server.forward(target.info, settings, prompt=prompt)

        def timeout_of(target: Target) -> float | None:
            """The deployment's timeout bounds its model; the fallback, the last resort, has none."""
            return target.version.timeout_s if target.version and target.arm != "fallback" else None

        def finish_output(target: Target, text: str, reason: str, **fields) -> tuple[str, str, str | None]:
            """The answer through the output guards, logged: (text to send, OpenAI finish reason, event id)."""
            text, output_hits, blocked_reply = guards.apply_output(version_dict, text)
            hits = input_hits + output_hits
            final = blocked_reply if blocked_reply is not None else text
            if blocked_reply is not None:
                reason = fields["finish_reason"] = "content_filter"
            event_id = event(target, output=final, guard_flags=hits or None, **fields)
            return final, reason, event_id

        async def answer_once(target: Target) -> tuple[dict, str | None]:
            if blocked is not None:
                final, reason, event_id = finish_output(target, blocked, "content_filter",
                                                        finish_reason="content_filter", latency_s=0.0, tokens_in=0,
                                                        tokens_out=0)
                return payload(final, reason, 0, 0), event_id
            if target.info.kind == "openai":
                reply = await asyncio.to_thread(forward, target)
                tokens_in, tokens_out = reply["tokens_in"] or 0, reply["tokens_out"] or 0
                latency = time.perf_counter() - began
                final, reason, event_id = finish_output(
                    target, reply["output"] or "", _openai_reason(reply["finish_reason"]),
                    finish_reason=reply["finish_reason"], latency_s=latency, ttft_s=latency, tokens_in=tokens_in,
                    tokens_out=tokens_out)
                return payload(final, reason, tokens_in, tokens_out), event_id
            request, _, done = server.submit_local(target, prompt_of, settings, stream=False,
                                                   loop=asyncio.get_running_loop(), precision=precision)
            await server.wait(request, done, http_request, timeout_of(target))
            if request.finish_reason == "error":
                raise Unavailable(f"The model failed on this request ({request.error}).")
            final, reason, event_id = finish_output(
                target, request.output, _openai_reason(request.finish_reason), finish_reason=request.finish_reason,
                latency_s=request.finished_at - request.submitted_at,
                ttft_s=(request.first_token_at or request.finished_at) - request.submitted_at,
                tokens_in=len(request.prompt), tokens_out=len(request.tokens))
            return payload(final, reason, len(request.prompt), len(request.tokens)), event_id

        def fallback_of(target: Target) -> Target | None:
            if target.version is None or not target.version.fallback_model or target.arm == "fallback":
                return None
            info = registry.get_model(store, actor=SYSTEM, name=target.version.fallback_model)
            return Target(requested=target.requested, info=info, version=target.version, arm="fallback")

        def log_failure(target: Target, exc: Exception, status: str = "error") -> None:
            event(target, status=status, error=str(exc)[:2000], latency_s=time.perf_counter() - began)

        def fall_back(target: Target, exc: Exception) -> Target:
            """After `target` failed (or timed out) before answering: logs the failure and returns the deployment's
            fallback; re-raises what the client should get when there is none (or the failure is the client's)."""
            if isinstance(exc, ApiError) and (exc.status not in (429, 502, 503) or exc.code == "model_loading"):
                raise exc
            if isinstance(exc, ModelLoading):
                raise exc
            log_failure(target, exc, "rate_limited" if isinstance(exc, ApiError) and exc.status == 429 else "error")
            backup = fallback_of(target)
            if backup is None:
                if isinstance(exc, Unavailable) and target.info.kind == "openai":
                    raise ApiError(502, exc.message, type="server_error", code="upstream_error") from None
                raise exc
            return backup

        async def answer(target: Target) -> tuple[dict, str | None]:
            try:
                return await answer_once(target)
            except (Unavailable, ApiError) as exc:
                backup = fall_back(target, exc)
            try:
                return await answer_once(backup)
            except (Unavailable, ApiError) as exc:
                fall_back(backup, exc)  # logs it and raises the client's error
                raise

        if not stream:
            body_out, event_id = await answer(target)
            headers = {"x-event-id": event_id} if event_id else None
            return JSONResponse(body_out, headers=headers)

        if blocked is not None:  # an input guard answered: nothing reached a model
            body_out, event_id = await answer(target)
            text = body_out["choices"][0].get("message", {}).get("content") if kind == "chat" else \
                body_out["choices"][0]["text"]

            async def replay():
                if kind == "chat":
                    yield _sse(chunk(None, role=True))
                yield _sse(chunk(text))
                final = chunk(None, body_out["choices"][0]["finish_reason"])
                final["usage"] = body_out["usage"]
                yield _sse(final)
                yield _sse("[DONE]")

            return StreamingResponse(replay(), media_type="text/event-stream")

        # Streaming. The primary is queued before the response starts, so a failure there (queue full, context)
        # answers as a status, or goes to the fallback; a failure or timeout before the first token falls back
        # too. Output guards read the text as it grows (core.serving.guards.StreamedOutput).
        loop = asyncio.get_running_loop()
        live: dict[str, Any] = {"target": target, "request": None}

        def submit(current: Target):
            return server.submit_local(current, prompt_of, settings, stream=True, loop=loop, precision=precision)

        queued = None
        while live["target"].info.kind != "openai":
            try:
                queued = submit(live["target"])
                live["request"] = queued[0]  # a client gone before the first delta still frees its row
                break
            except (Unavailable, ApiError) as exc:
                live["target"] = fall_back(live["target"], exc)

        async def deltas_of(current: Target, queued, outcome: dict):
            """The text deltas of one model's answer; Unavailable before the first delta means it failed."""
            if current.info.kind == "openai":
                started = time.perf_counter()
                reply = await asyncio.to_thread(forward, current)
                latency = time.perf_counter() - started
                outcome.update(reason=reply["finish_reason"], tokens_in=reply["tokens_in"] or 0,
                               tokens_out=reply["tokens_out"] or 0, latency_s=latency, ttft_s=latency)
                if reply["output"]:
                    yield reply["output"]
                return
            request, deltas, _ = queued or submit(current)
            live["request"] = request
            timeout_s, waited = timeout_of(current), time.monotonic()
            first = True
            while True:
                if first and timeout_s:
                    try:
                        delta = await asyncio.wait_for(deltas.get(), max(0.0, timeout_s - (time.monotonic() - waited)))
                    except asyncio.TimeoutError:
                        request.cancel()
                        raise Unavailable(f"The model did not answer within {timeout_s:g} s.") from None
                else:
                    delta = await deltas.get()
                if delta is None:
                    break
                first = False
                yield delta
            if request.finish_reason == "error":
                raise Unavailable(f"The model failed on this request ({request.error}).")
            outcome.update(outcome_of(request))

        def outcome_of(request: Request) -> dict:
            ended = request.finished_at or time.perf_counter()
            return {"reason": request.finish_reason, "tokens_in": len(request.prompt),
                    "tokens_out": len(request.tokens), "latency_s": ended - request.submitted_at,
                    "ttft_s": (request.first_token_at or ended) - request.submitted_at}

        async def stream_out():
            finished = False
            guard = guards.StreamedOutput(version_dict)
            pending = queued
            outcome: dict[str, Any] = {}
            try:
                if kind == "chat":
                    yield _sse(chunk(None, role=True))
                while True:
                    current, sent_any = live["target"], False
                    try:
                        async for delta in deltas_of(current, pending, outcome):
                            sent_any = True
                            text = guard.feed(delta)
                            if text:
                                yield _sse(chunk(text))
                            if guard.blocked:  # a blocking output guard: the answer stops here
                                if live["request"] is not None:
                                    live["request"].cancel()
                                    outcome.update(outcome_of(live["request"]))
                                break
                        break
                    except (Unavailable, ApiError) as exc:
                        pending = None
                        if sent_any:  # failed mid-answer: too late to fall back
                            log_failure(current, exc)
                            finished = True
                            yield _sse(errors.internal().body())
                            return
                        try:
                            live["target"], live["request"] = fall_back(current, exc), None
                        except (Unavailable, ApiError) as final:
                            finished = True
                            yield _sse((final if isinstance(final, ApiError) else errors.from_workbench(final)).body())
                            return
                rest = guard.finish()
                if rest:
                    yield _sse(chunk(rest))
                reason = "content_filter" if guard.blocked else _openai_reason(outcome.get("reason"))
                event(live["target"], output=guard.sent, guard_flags=(input_hits + guard.hits) or None,
                      finish_reason="content_filter" if guard.blocked else outcome.get("reason"),
                      latency_s=outcome.get("latency_s"), ttft_s=outcome.get("ttft_s"),
                      tokens_in=outcome.get("tokens_in"), tokens_out=outcome.get("tokens_out"))
                usage = {"prompt_tokens": outcome.get("tokens_in") or 0,
                         "completion_tokens": outcome.get("tokens_out") or 0}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                final = chunk(None, reason)
                final["usage"] = usage
                yield _sse(final)
                if include_usage:
                    yield _sse({**chunk(None), "choices": [], "usage": usage})
                yield _sse("[DONE]")
                finished = True
            finally:
                request = live["request"]
                if not finished and (request is None or not request.done.is_set()):
                    if request is not None:
                        request.cancel()  # the client went away: its row leaves the batch at the next step
                    log_failure(live["target"], Unavailable("The client disconnected before the answer ended."))

        return StreamingResponse(stream_out(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat_completions(http_request: HttpRequest):
        return await run_text(http_request, kind="chat")

    @app.post("/v1/completions")
    async def completions(http_request: HttpRequest):
        return await run_text(http_request, kind="text")

    @app.post("/v1/embeddings")
    async def embeddings(http_request: HttpRequest):
        key = server.authorise(http_request, "embeddings")
        body = await body_of(http_request)
        texts = body.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts) or len(texts) > 2048:
            raise errors.bad_request("'input' must be a string or a list of up to 2048 strings.", "input")
        if body.get("encoding_format") not in (None, "float", "base64"):
            raise errors.bad_request("'encoding_format' must be float or base64.", "encoding_format")
        user, metadata = user_from(body), metadata_from(body)
        target = server.target(body.get("model"), user, task="embedding")
        server.check_model_allowed(key, target.requested)
        began = time.perf_counter()

        def event(**fields) -> str | None:
            # The texts as given; an embedding call has no output, finish reason or output tokens.
            return server.events.emit(model=target.model_name, input={"input": body.get("input")},
                                      application=key.name, user_id=user, metadata=metadata, endpoint="embeddings",
                                      latency_s=time.perf_counter() - began, **fields)

        try:
            embedder = server.pool.embedder(target.info)
        except ModelLoading as exc:
            raise errors.unavailable(exc.message, LOADING_RETRY_S, code="model_loading") from None
        except Unavailable as exc:
            event(status="error", error=exc.message[:2000])
            raise

        def run():
            from core.models.loading import embed

            with embedder.lock:
                vectors = embed(texts, embedder.model, embedder.tokenizer)
                tokens = sum(len(ids) for ids in embedder.tokenizer(texts, truncation=True)["input_ids"])
            return vectors, tokens

        try:
            vectors, tokens = await asyncio.to_thread(run)
        except Exception as exc:
            event(status="error", error=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        event_id = event(tokens_in=tokens)
        if body.get("encoding_format") == "base64":
            import base64

            data = [base64.b64encode(v.astype("float32").tobytes()).decode("ascii") for v in vectors]
        else:
            data = [v.tolist() for v in vectors]
        return JSONResponse({"object": "list", "model": target.requested,
                             "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(data)],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                            headers={"x-event-id": event_id} if event_id else None)

    def key_actor(key: keys.KeyInfo) -> Actor:
        """The acting user for what a key writes (events, feedback): named after the key; its scope decides."""
        return Actor(name=f"api-key:{key.name}", role=Role.DATA_SCIENTIST)

    @app.post("/v1/events")
    async def post_events(http_request: HttpRequest):
        key = server.authorise(http_request, "events")
        raw = (await http_request.body()).decode("utf-8", errors="replace").strip()
        try:
            items = json.loads(raw) if raw.startswith("[") else [json.loads(line) for line in raw.splitlines()
                                                                   if line.strip()]
        except ValueError as exc:
            raise errors.bad_request(f"The body is neither a JSON array nor NDJSON ({exc}).") from None
        if not items or not all(isinstance(i, dict) for i in items):
            raise errors.bad_request("Send a JSON array of event objects, or one event object per line (NDJSON).")
        from core.events.log import log_events
        from core.events.schema import EventIn

        parsed = []
        for number, item in enumerate(items, start=1):
            item = {**item}
            item.setdefault("application", key.name)
            unknown = sorted(k for k in item if k not in EventIn.__dataclass_fields__)
            if unknown:
                raise errors.bad_request(f"Event {number}: unknown field(s) {', '.join(unknown)}; put business "
                                         "fields under 'metadata'.")
            try:
                parsed.append(EventIn.from_json(item))
            except (TypeError, ValueError) as exc:
                raise errors.bad_request(f"Event {number}: {exc}.") from None
        count = await asyncio.to_thread(log_events, store, parsed, source="http")
        return {"object": "list", "events": count, "ids": [e.event_id for e in parsed]}

    @app.post("/v1/feedback")
    async def post_feedback(http_request: HttpRequest):
        key = server.authorise(http_request, "feedback")
        body = await body_of(http_request)
        from core.events.feedback import record_feedback

        score = body.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise errors.bad_request("'score' must be a number: 1 for thumbs up, 0 for thumbs down, or a score.",
                                     "score")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise errors.bad_request("'comment' must be text.", "comment")
        info = await asyncio.to_thread(record_feedback, store, actor=key_actor(key), event_id=body.get("event_id"),
                                       response_id=body.get("response_id"), score=float(score), comment=comment)
        return {"object": "feedback", "event_id": info.event_id, "score": float(score)}

    return app

