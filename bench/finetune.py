"""Fine-tuning throughput: padding-free batches against the plain padded baseline, on the bundled model.

One prompt/completion dataset with a long tail of lengths (most answers 20-60 tokens, about one in ten
300-500 tokens; seeded), the bundled SmolLM2-135M-Instruct, one FinetuneConfig that differs only in
`batching`: "padded" pads each batch to its longest example, "padding_free" puts the batch's examples in one
row with positions restarting per example, attends inside each example only and projects onto the vocabulary
only where a token is trained. Same seed, so both train on the same batches in the same order
(checked).

Each method trains in its own child process through core.finetune.train.train(), and the two run in lockstep,
one optimizer step at a time, alternating which goes first (padded, padding-free, padding-free, padded, ...):
the `report` callback train() calls after every logged step waits for the parent's go. A step's time is
measured by the parent from its go to the step's report, so both methods meet the same background load on
a shared machine, step by step. Step 1 (allocator and kernel warm-up) is left out of the figures.

Prints non-padding tokens per second of each (real tokens of the timed steps / their time), the ratio, the
share of computed positions that were padding, and how closely the per-step loss curves agree. Asserts
nothing about time.

    .venv/bin/python bench/finetune.py [--steps 32] [--batch-size 8] [--repeats 1] [--rows 480]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

# Run as a script, bench/ would come first on the path and bench/profile.py would shadow the standard
# library's profile module (which torch imports): put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

TOPICS = ["refund", "invoice", "password reset", "shipping delay", "API rate limit", "login loop", "data export",
          "webhook signature", "mobile app crash", "account deletion", "SSO setup", "billing address"]
ASKS = ["How do I handle a {t} ticket?", "A customer writes about a {t}. What should I answer?",
        "Explain the {t} process to a new support agent.", "What is the first thing to check for a {t}?",
        "Summarise our policy on {t} for the team."]
SENTENCES = [
    "First confirm the customer's account and the order number, then look at the {t} history in the admin panel.",
    "If the {t} is older than fourteen days, escalate it to the second line with the logs attached.",
    "Apologise once, explain what happened in plain words and give a date by which it will be fixed.",
    "Most {t} cases are solved by clearing the session and asking the customer to try again.",
    "Never ask for a password or a full card number; the admin panel shows everything you need.",
    "Write down what you did in the ticket so the next agent can pick it up without asking again.",
    "When the {t} affects several customers, open an incident and link the tickets to it.",
    "Close the ticket only after the customer confirms that the {t} is resolved.",
]
# Tail: about one answer in ten is long (a full knowledge-base article), the rest are short replies.
SHORT_TOKENS = (20, 60)
LONG_TOKENS = (300, 500)
LONG_SHARE = 0.1
# The two methods compute the same function; they differ only in the order of floating-point sums (other matrix
# shapes, a block mask instead of a padding mask). In fp32 that moves a loss by about 1e-6 and, compounded over a
# few optimiser steps, by well under 1e-3. A real difference in what is trained (a mask letting examples see each
# other, a label shifted across an example boundary, padding counted in the mean) moves it by 0.05 or more.
LOSS_TOLERANCE = 1e-3


def make_frame(tokenizer, rows: int, seed: int = 0):
    """Prompt/completion rows whose answers have a long tail of lengths, cut to an exact token count."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    prompts, completions = [], []
    for _ in range(rows):
        topic = TOPICS[rng.integers(len(TOPICS))]
        prompts.append(ASKS[rng.integers(len(ASKS))].format(t=topic))
        low, high = LONG_TOKENS if rng.random() < LONG_SHARE else SHORT_TOKENS
        target = int(rng.integers(low, high + 1))
        ids: list[int] = []
        while len(ids) < target:
            sentence = SENTENCES[rng.integers(len(SENTENCES))].format(t=topic)
            ids += tokenizer(" " + sentence, add_special_tokens=False)["input_ids"]
        completions.append(tokenizer.decode(ids[:target]).strip())
    return pd.DataFrame({"prompt": prompts, "completion": completions})


class BatchLog:
    """Wraps the trainer's collators (what they return is unchanged) to record each batch's example lengths,
    so the run can report the padding share and check that both methods saw the same batches."""

    def __init__(self):
        self.batches: list[list[int]] = []

    def install(self):
        import core.finetune.train as train_module

        original = {"padded": train_module.padded_collator, "padding_free": train_module.padding_free_collator}

        def wrap(make):
            def factory(*args, **kwargs):
                collate = make(*args, **kwargs)

                def logged(batch):
                    self.batches.append([len(b["input_ids"]) for b in batch])
                    return collate(batch)
                return logged
            return factory

        train_module.padded_collator = wrap(original["padded"])
        train_module.padding_free_collator = wrap(original["padding_free"])
        return original


def expected_work(lengths: list[int], batch_size: int, batches: int = 4000) -> float:
    """Positions a padded batch computes per real token, over many random batches (seeded)."""
    import random

    rng = random.Random(0)
    real = computed = 0
    for _ in range(batches):
        batch = rng.sample(lengths, batch_size)
        real, computed = real + sum(batch), computed + batch_size * max(batch)
    return computed / real


def _child(batching: str, base: str, data, config_values: dict, run_dir: str, threads: int, conn) -> None:
    """One training run, holding at train begin and after every logged step until the parent says go."""
    import warnings

    warnings.filterwarnings("ignore")
    import contextlib
    import io

    import torch
    import transformers
    from transformers import AutoTokenizer

    from core.finetune.config import FinetuneConfig
    from core.finetune.train import train

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(threads)
    log = BatchLog()
    log.install()
    tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=False)  # as core.finetune.run loads it
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    losses: list[float] = []

    def report(metrics: dict) -> bool:
        # Called at train begin, after each logged step (with its loss), and as a heartbeat every 5 s.
        if "loss" in metrics:
            losses.append(metrics["loss"])
            conn.send(("step", metrics["step"], metrics["loss"]))
        elif metrics.get("step") == 0 and not losses:
            conn.send(("ready",))
        else:
            return True
        return conn.recv() == "go"

    config = FinetuneConfig.from_dict({**config_values, "batching": batching})
    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer prints each log line; the parent prints figures
        result = train(base_path=base, data=data, tokenizer=tokenizer, config=config, run_dir=Path(run_dir),
                       report=report)
    # The data loader fetches one batch ahead of the step it trains, so the collator saw one batch more than
    # was trained: keep the trained ones.
    conn.send(("done", {"losses": losses, "batches": log.batches[:len(losses)],
                        "train_loss": result.metrics["train_loss"]}))
    conn.close()


def run_lockstep(base: str, data, config, folder: Path, threads: int) -> dict[str, dict]:
    """Both methods, one step at a time in turn; returns per method its losses, batches and step times."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    methods = ("padded", "padding_free")
    children, conns = {}, {}
    for batching in methods:
        parent_end, child_end = context.Pipe()
        run_dir = folder / f"{batching}-{time.monotonic_ns()}"
        run_dir.mkdir()
        children[batching] = context.Process(target=_child, args=(batching, base, data, config.to_dict(),
                                                                    str(run_dir), threads, child_end), daemon=True)
        children[batching].start()
        child_end.close()  # so a child that dies shows as the end of its pipe here
        conns[batching] = parent_end

    def expect(batching: str, kind: str):
        try:
            message = conns[batching].recv()
        except EOFError:
            raise SystemExit(f"the {batching} training process failed (exit code {children[batching].exitcode})")
        if message[0] != kind:
            raise SystemExit(f"the {batching} run sent {message[0]!r} where {kind!r} was expected")
        return message

    for batching in methods:
        expect(batching, "ready")
    step_s: dict[str, list[float]] = {m: [] for m in methods}
    for step in range(1, config.max_steps + 1):
        for batching in (methods if step % 2 else methods[::-1]):
            started = time.perf_counter()
            conns[batching].send("go")
            _, done_step, _ = expect(batching, "step")
            step_s[batching].append(time.perf_counter() - started)
            assert done_step == step, (batching, done_step, step)
    out = {}
    for batching in methods:
        conns[batching].send("go")
        out[batching] = {**expect(batching, "done")[1], "step_s": step_s[batching]}
        children[batching].join()
    for batching, run in out.items():
        run["real"] = [sum(b) for b in run["batches"]]
        run["computed"] = [len(b) * max(b) if batching == "padded" else sum(b) for b in run["batches"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=480)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=1, help="Lockstep pairs to run; each step's fastest counts.")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (default: all cores).")
    parser.add_argument("--model-dir", help="Model folder (default: the bundled chat model, converted if needed).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    scratch = tempfile.TemporaryDirectory(prefix="bench-finetune-")
    os.environ.setdefault("WORKBENCH_HOME", str(Path(scratch.name) / "home"))
    warnings.filterwarnings("ignore", category=FutureWarning)
    import torch
    import transformers
    from transformers import AutoTokenizer

    from core.finetune.config import FinetuneConfig
    from core.finetune.examples import prepare
    from core.models import bundled
    from core.settings import Settings

    transformers.logging.set_verbosity_error()
    threads = args.threads or os.cpu_count() or 1
    folder = args.model_dir or str(bundled.install(Settings.from_env().models_dir, bundled.CHAT_MODEL))
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    # lora_dropout 0: dropout masks are drawn per tensor shape, so they differ between a padded and a flattened
    # batch; without dropout the two methods compute the same function and their loss curves can be compared.
    config = FinetuneConfig(base_model="bench", dataset="bench", format="prompt_completion", validation_share=0.0,
                            batch_size=args.batch_size, gradient_accumulation=1, max_steps=args.steps,
                            max_seq_length=args.max_seq_length, lora_dropout=0.0, save_steps=1_000_000,
                            eval_steps=0, logging_steps=1, seed=42)
    data = prepare(tokenizer, make_frame(tokenizer, args.rows), config)
    lengths = sorted(len(e.input_ids) for e in data.train)
    print(f"model {Path(folder).name} on CPU ({os.cpu_count()} cores), {threads} torch threads per run; "
          f"transformers {transformers.__version__}, torch {torch.__version__}")
    print(f"data: {len(lengths)} examples, tokens per example p10 {lengths[len(lengths) // 10]}, median "
          f"{lengths[len(lengths) // 2]}, p90 {lengths[len(lengths) * 9 // 10]}, max {lengths[-1]}; "
          f"{args.steps} steps of batch {args.batch_size}, max_seq_length {args.max_seq_length}, LoRA r "
          f"{config.lora_r}, fp32")

    repeats = []
    with tempfile.TemporaryDirectory(prefix="runs-", dir=scratch.name) as runs_folder:
        for repeat in range(args.repeats):
            started = time.perf_counter()
            runs = run_lockstep(folder, data, config, Path(runs_folder), threads)
            repeats.append(runs)
            rate = {m: sum(r["real"][1:]) / sum(r["step_s"][1:]) for m, r in runs.items()}
            print(f"  pair {repeat + 1}: padded {rate['padded']:6.1f}, padding-free {rate['padding_free']:6.1f} "
                  f"non-padding tokens/s = {rate['padding_free'] / rate['padded']:.2f}x "
                  f"({time.perf_counter() - started:.0f} s in all)", flush=True)

    padded, free = repeats[0]["padded"], repeats[0]["padding_free"]
    if any(r[m]["batches"] != padded["batches"] for r in repeats for m in r):
        print("WARNING: the runs did not see the same batches in the same order")
    real, computed = sum(padded["real"][1:]), sum(padded["computed"][1:])
    # With several pairs, each step's fastest time over them counts (a step slowed by another process's burst
    # only counts if every repeat of it was slowed).
    seconds = {m: sum(min(r[m]["step_s"][i] for r in repeats) for i in range(1, args.steps))
               for m in ("padded", "padding_free")}
    rate = {m: real / seconds[m] for m in seconds}
    print(f"padding: {1 - real / computed:.0%} of the positions the padded run computed were padding ({computed} "
          f"for {real} real tokens in steps 2-{args.steps}: {computed / real:.2f}x the work in every per-token layer; "
          f"over random batches of {args.batch_size} from this data it is {expected_work(lengths, args.batch_size):.2f}x)")
    print(f"padded:       {rate['padded']:7.1f} non-padding tokens/s ({real} tokens in {seconds['padded']:.1f} s)")
    print(f"padding-free: {rate['padding_free']:7.1f} non-padding tokens/s ({real} tokens in "
          f"{seconds['padding_free']:.1f} s)")
    per_step = sorted(p / f for p, f in zip(padded["step_s"][1:], free["step_s"][1:]))
    print(f"padding-free vs padded: {rate['padding_free'] / rate['padded']:.2f}x (goal 2x); per step, from "
          f"{per_step[0]:.2f}x to {per_step[-1]:.2f}x, median {statistics.median(per_step):.2f}x")
    diff = max(abs(a - b) for a, b in zip(padded["losses"], free["losses"]))
    print(f"loss curves: max |padded - padding-free| per-step loss {diff:.1e} over {len(padded['losses'])} steps "
          f"(train_loss {padded['train_loss']} vs {free['train_loss']}): "
          f"{'match' if diff <= LOSS_TOLERANCE else 'DO NOT MATCH'} (tolerance {LOSS_TOLERANCE})")
    print("per-step loss, padded:      ", " ".join(f"{x:.4f}" for x in padded["losses"]))
    print("per-step loss, padding-free:", " ".join(f"{x:.4f}" for x in free["losses"]))
    scratch.cleanup()


if __name__ == "__main__":
    main()
