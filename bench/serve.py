"""`workbench serve` under concurrent clients vs the same requests one at a time, and vs `transformers serve`.

Starts a real `workbench serve` process (temporary home, bundled SmolLM2-135M-Instruct) and sends N chat requests
(greedy, up to --max-tokens new tokens, streamed so time to first token is measured) through the official openai
client: first one at a time, then all N at once. With --peer it does the same against `transformers serve` (its
continuous-batching mode) on the same model folder, offline. Prints tokens/s, p50/p95 latency, p50 TTFT, the
scheduler's batch sizes, and how many concurrent answers equal the one-at-a-time ones. Asserts nothing about time.

    .venv/bin/python bench/serve.py [--clients 16] [--max-tokens 32] [--peer] [--serial-sample K]

The one-at-a-time baseline times at least 8 requests (all N unless --serial-sample says fewer). When `transformers
serve` cannot run here (its CLI or serving extras missing, the model not loadable offline) the peer line says why
in one line and the rest of the figures stand.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # bench/profile.py must not shadow the stdlib module

from bench.generate import make_prompts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def one_call(client, model: str, messages: list[dict], max_tokens: int) -> dict:
    started = time.perf_counter()
    first = None
    parts, tokens = [], None
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
            parts.append(chunk.choices[0].delta.content)
        if getattr(chunk, "usage", None):
            tokens = chunk.usage.completion_tokens
    ended = time.perf_counter()
    return {"text": "".join(parts).strip(), "tokens": tokens, "latency": ended - started,
            "ttft": (first or ended) - started, "start": started, "end": ended}


def run_phase(client, model, prompts, max_tokens, concurrent: bool) -> dict:
    began = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(len(prompts)) as pool:
            calls = list(pool.map(lambda p: one_call(client, model, p, max_tokens), prompts))
    else:
        calls = [one_call(client, model, p, max_tokens) for p in prompts]
    wall = time.perf_counter() - began
    tokens = sum(c["tokens"] or 0 for c in calls)
    latencies = sorted(c["latency"] for c in calls)
    return {"calls": calls, "wall": wall, "tokens": tokens, "tps": tokens / wall,
            "p50": statistics.median(latencies), "p95": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
            "ttft": statistics.median(c["ttft"] for c in calls)}


def show(label: str, phase: dict) -> None:
    print(f"{label:<34} {phase['tokens']:>6} tok  {phase['wall']:>7.1f} s  {phase['tps']:>7.2f} tok/s  "
          f"p50 {phase['p50']:>6.2f} s  p95 {phase['p95']:>6.2f} s  TTFT p50 {phase['ttft']:>6.2f} s  "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)


def start_workbench(home: Path):
    from core.governance.roles import SYSTEM
    from core.home import init_workbench, open_store
    from core.serving import keys
    from core.settings import Settings

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'workbench.db'}")
    init_workbench(settings, with_models=True)
    store = open_store(settings)
    key = keys.create_key(store, actor=SYSTEM, name="bench")[1]
    from core.models import bundled, registry

    path = registry.get_model(store, actor=SYSTEM, name=bundled.DEFAULT_CHAT_MODEL).path
    store.dispose()
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("WORKBENCH_DATABASE_URL", None)
    command = [sys.executable, "-m", "workbench.cli", "serve", "--port", str(port), "--preload",
               bundled.DEFAULT_CHAT_MODEL]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=open(home / "serve.log", "w"))
    time.sleep(5)
    if process.poll() is not None:
        # The CLI itself failed to start (e.g. another command group's parser is broken): run the same ASGI app
        # that `workbench serve` runs, with the same settings, directly under uvicorn.
        print(f"note: `workbench serve` exited at start ({(home / 'serve.log').read_text().strip().splitlines()[-1]}); "
              "running its app directly under uvicorn", flush=True)
        code = ("import uvicorn; from core.home import open_store; from core.serving.app import ServeConfig, create_app; "
                f"uvicorn.run(create_app(open_store(), ServeConfig(preload=['{bundled.DEFAULT_CHAT_MODEL}'])), "
                f"host='127.0.0.1', port={port}, log_level='warning')")
        process = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=open(home / "serve.log", "w"))
    url = f"http://127.0.0.1:{port}"
    import httpx

    wait_until(lambda: bundled.DEFAULT_CHAT_MODEL in httpx.get(f"{url}/health").json()["models"], 300, "workbench serve")
    return process, url, key, path


class _Skip(Exception):
    """--peer-only: the workbench phases are left out."""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--peer", action="store_true", help="Also measure `transformers serve` (offline, CB mode).")
    parser.add_argument("--peer-only", action="store_true",
                        help="Measure only `transformers serve` (compare with an earlier run's workbench figures).")
    parser.add_argument("--serial-sample", type=int, default=0,
                        help="Send only the first K requests one at a time (tokens/s of that phase from them; on a "
                             "slow or loaded machine; at least 8); 0: all.")
    args = parser.parse_args()
    if args.serial_sample:
        args.serial_sample = min(args.clients, max(8, args.serial_sample))
    import httpx
    from openai import OpenAI

    from core.models import bundled

    prompts = make_prompts(args.clients)
    print(f"{args.clients} chat requests, greedy, up to {args.max_tokens} new tokens, streamed; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as folder:
        process, url, key, path = start_workbench(Path(folder))
        serial = together = None
        try:
            if args.peer_only:
                raise _Skip
            client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=1800)
            one_call(client, bundled.DEFAULT_CHAT_MODEL, prompts[0], 4)  # warm up
            serial = run_phase(client, bundled.DEFAULT_CHAT_MODEL, prompts[:args.serial_sample or None],
                               args.max_tokens, concurrent=False)
            show(f"workbench serve, one at a time ({len(serial['calls'])})", serial)
            before = httpx.get(f"{url}/v1/scheduler", headers={"Authorization": f"Bearer {key}"}).json()
            together = run_phase(client, bundled.DEFAULT_CHAT_MODEL, prompts, args.max_tokens, concurrent=True)
            show(f"workbench serve, {args.clients} concurrent", together)
            after = httpx.get(f"{url}/v1/scheduler", headers={"Authorization": f"Bearer {key}"}).json()
            b, a = before["schedulers"][0]["batch_sizes"], after["schedulers"][0]["batch_sizes"]
            sizes = {int(k): v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}
            same = sum(s["text"] == t["text"] for s, t in zip(serial["calls"], together["calls"]))
            print(f"ratio concurrent / one at a time: {together['tps'] / serial['tps']:.2f}x tokens/s; "
                  f"identical greedy answers: {same}/{len(serial['calls'])}; decode steps by batch size: "
                  f"{dict(sorted(sizes.items()))}", flush=True)
        except _Skip:
            pass
        finally:
            process.terminate()
            process.wait(30)
        args.peer = args.peer or args.peer_only
        if args.peer and not (Path(sys.executable).parent / "transformers").exists():
            print("transformers serve did not run here: the `transformers` CLI is not installed in this "
                  "environment.", flush=True)
        elif args.peer:
            port = free_port()
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
            peer = subprocess.Popen([str(Path(sys.executable).parent / "transformers"), "serve", "--port", str(port),
                                     "--host", "127.0.0.1", "--continuous-batching", "--device", "cpu", path],
                                    env=env, stdout=subprocess.DEVNULL, stderr=open(Path(folder) / "peer.log", "w"))
            try:
                wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200, 900,
                           "transformers serve")
                client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=1800)
                one_call(client, path, prompts[0], 4)
                peer_serial = run_phase(client, path, prompts[:args.serial_sample or None], args.max_tokens,
                                        concurrent=False)
                show("transformers serve, one at a time", peer_serial)
                peer_together = run_phase(client, path, prompts, args.max_tokens, concurrent=True)
                show(f"transformers serve, {args.clients} concurrent", peer_together)
                if together is not None:
                    same = sum(p["text"] == t["text"] for p, t in zip(peer_together["calls"], together["calls"]))
                    print(f"workbench / transformers serve, concurrent: "
                          f"{together['tps'] / peer_together['tps']:.2f}x tokens/s; one at a time: "
                          f"{serial['tps'] / peer_serial['tps']:.2f}x; greedy answers equal to workbench's: "
                          f"{same}/{len(together['calls'])}", flush=True)
            except (SystemExit, Exception) as exc:
                last = ((Path(folder) / "peer.log").read_text().strip().splitlines() or ["(no log)"])[-1]
                print(f"transformers serve did not run here: {exc} (its log ends: {last[:300]})", flush=True)
            finally:
                peer.terminate()
                peer.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
