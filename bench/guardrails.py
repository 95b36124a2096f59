"""Added latency of the non-LLM guardrails per served request: the demo guarded deployment's input and output guards
(injection heuristics, PII redaction, deny-list, secrets, max length, JSON schema) over support prompts, attack
prompts and model-sized answers, timed one request at a time. Prints p50/p95/p99 in milliseconds; asserts nothing.

    .venv/bin/python bench/guardrails.py --requests 2000
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from core.guardrails.apply import apply_input, apply_output  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "core" / "guardrails" / "data"
VERSION = {"deployment": "bench", "guardrails": {
    "input": [{"guard": "injection", "action": "block"}, {"guard": "pii", "action": "redact"},
              {"guard": "deny_list", "words": ["chargeback", "lawsuit"], "patterns": [r"\bcvv\s*\d{3}\b"],
               "action": "flag"}],
    "output": [{"guard": "secrets", "action": "redact"}, {"guard": "pii", "action": "redact"},
               {"guard": "max_length", "max_chars": 1500, "action": "redact"}]}}
ANSWER = ("Thanks for reaching out, Maria. I have checked your account and refunded the duplicate charge of 29.00 EUR; "
          "it should appear on your statement within 3-5 business days. If you have further questions, reply to this "
          "email or call us at +49 30 1234567. ") * 2


def lines(name: str) -> list[str]:
    return [l.strip() for l in (DATA / name).read_text().splitlines() if l.strip() and not l.startswith("#")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    prompts = lines("benign_prompts.txt") + lines("held_out_attacks.txt")
    rng = random.Random(0)
    for warm in prompts[:20]:
        apply_input(VERSION, [{"role": "user", "content": warm}])
    times = []
    for _ in range(args.requests):
        messages = [{"role": "system", "content": "You are Acme's support assistant."},
                    {"role": "user", "content": rng.choice(prompts)}]
        started = time.perf_counter()
        _, _, blocked = apply_input(VERSION, messages)
        if blocked is None:
            apply_output(VERSION, ANSWER)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    q = statistics.quantiles(times, n=100)
    print(f"{args.requests} requests: p50 {q[49]:.3f} ms, p95 {q[94]:.3f} ms, p99 {q[98]:.3f} ms, "
          f"max {times[-1]:.3f} ms (input + output guards, one request at a time)")


if __name__ == "__main__":
    main()
