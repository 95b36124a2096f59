"""Batched local generation against two peers in the same run, on the bundled model.

64 chat prompts of varied length, greedy, up to 128 new tokens, stopping naturally. Peers:
  1. model.generate() one prompt at a time;
  2. one plain model.generate() call over all 64 prompts, left-padded together.
Prints generated tokens per second of each, the ratios, and the share of prompts whose greedy answer is
identical to peer 1's. Asserts nothing about time.

With --kernel-breakdown it also runs peer 1 with the oneDNN linear layers the workbench uses on a CPU
(core/inference/cpu_linear.py), to show how much of the ratio is the kernel and how much the batching.

    .venv/bin/python bench/generate.py [--prompts 64] [--max-new-tokens 128] [--batch-size 32] [--kernel-breakdown]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script, bench/ would come first on the path and bench/profile.py would shadow the standard
# library's profile module (which torch imports): put the repository root there instead.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

QUESTIONS = [
    "What is the capital of Japan?", "Name three primary colours.", "What is 12 times 12?",
    "Write a haiku about autumn leaves.", "Explain what a database index is in two sentences.",
    "Give me a short tip for better sleep.", "Translate 'thank you very much' into Spanish.",
    "What does HTTP stand for?", "Suggest a name for a friendly robot.", "Why is the sky blue? Answer briefly.",
    "Write one sentence welcoming new employees.", "List four fruits that are red.",
    "Summarise the plot of Romeo and Juliet in one sentence.", "What is the boiling point of water in Celsius?",
    "Describe a cat to someone who has never seen one.", "How many days are there in a leap year?",
]
CONTEXT = ("Our customer writes: I ordered a pair of running shoes three weeks ago, order 48213. The tracking page "
           "has said 'label created' since then and nobody answers the phone. I need the shoes for a marathon next "
           "weekend. If they cannot arrive in time I want a refund, and I would like to know why the order was stuck. ")
TASKS = ["Write a short, polite reply to this customer.", "Classify the message as billing, shipping or product. "
         "Answer with one word.", "Summarise the customer's problem in one sentence.",
         "List the customer's two requests."]


def make_prompts(n: int) -> list[list[dict]]:
    prompts = []
    for i in range(n):
        if i % 4 == 3:  # a quarter carry a long context, as real support prompts do
            text = CONTEXT * (1 + i % 3) + TASKS[i % len(TASKS)]
        else:
            text = QUESTIONS[i % len(QUESTIONS)]
        prompts.append([{"role": "user", "content": text}])
    return prompts


def one_at_a_time(model, tokenizer, prompts, max_new_tokens):
    import torch

    outputs, tokens = [], 0
    with torch.inference_mode():
        for messages in prompts:
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
            new = out[0][ids["input_ids"].shape[1]:]
            tokens += int((new != tokenizer.pad_token_id).sum())
            outputs.append(tokenizer.decode(new, skip_special_tokens=True).strip())
    return outputs, tokens


def plain_batch(model, tokenizer, prompts, max_new_tokens):
    import torch

    texts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[:, batch["input_ids"].shape[1]:]
    eos = tokenizer.eos_token_id
    tokens = 0
    outputs = []
    for row in new.tolist():
        cut = row.index(eos) if eos in row else len(row)
        tokens += cut
        outputs.append(tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    return outputs, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="Most prompts decoded together (the workbench default).")
    parser.add_argument("--kernel-breakdown", action="store_true",
                        help="Also run one at a time with the workbench's oneDNN linear layers (CPU only).")
    parser.add_argument("--model-dir", help="Model folder (default: the bundled chat model, converted if needed).")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from core.inference.cpu_linear import onednn_linears
    from core.inference.generate import GenerationSettings, generate_chats
    from core.models import bundled
    from core.models.loading import load_causal_lm
    from core.settings import Settings

    folder = args.model_dir or str(bundled.install(Settings.from_env().models_dir, bundled.CHAT_MODEL))
    model, tokenizer = load_causal_lm(folder)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    print(f"model {Path(folder).name} on {device} ({torch.cuda.get_device_name() if device == 'cuda' else f'{torch.get_num_threads()} CPU threads'})")
    prompts = make_prompts(args.prompts)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)

    started = time.perf_counter()
    ours = generate_chats(model, tokenizer, prompts, settings)
    ours_s = time.perf_counter() - started
    ours_tokens = sum(g.tokens_out for g in ours)

    started = time.perf_counter()
    plain_out, plain_tokens = plain_batch(model, tokenizer, prompts, args.max_new_tokens)
    plain_s = time.perf_counter() - started

    started = time.perf_counter()
    single_out, single_tokens = one_at_a_time(model, tokenizer, prompts, args.max_new_tokens)
    single_s = time.perf_counter() - started

    rate = {"workbench": ours_tokens / ours_s, "plain batch": plain_tokens / plain_s, "one at a time": single_tokens / single_s}
    for name, seconds, tokens in (("workbench", ours_s, ours_tokens), ("plain batch", plain_s, plain_tokens),
                                  ("one at a time", single_s, single_tokens)):
        print(f"{name:>14}: {tokens:5d} tokens in {seconds:6.1f} s = {rate[name]:7.1f} tokens/s")
    same = sum(a.output == b for a, b in zip(ours, single_out)) / len(prompts)
    same_plain = sum(a == b for a, b in zip(plain_out, single_out)) / len(prompts)
    print(f"workbench vs one at a time: {rate['workbench'] / rate['one at a time']:.1f}x (goal 10x)")
    print(f"workbench vs plain batch:   {rate['workbench'] / rate['plain batch']:.2f}x (goal 1.3x)")
    print(f"identical greedy answers to one at a time: workbench {same:.0%} (goal 95%), plain batch {same_plain:.0%}")
    if args.kernel_breakdown and device == "cpu":
        started = time.perf_counter()
        with onednn_linears(model):
            kernel_out, kernel_tokens = one_at_a_time(model, tokenizer, prompts, args.max_new_tokens)
        kernel_rate = kernel_tokens / (time.perf_counter() - started)
        print(f"one at a time with oneDNN linears: {kernel_rate:.1f} tokens/s = {kernel_rate / rate['one at a time']:.2f}x "
              f"PyTorch's path; workbench vs it: {rate['workbench'] / kernel_rate:.1f}x; identical answers "
              f"{sum(a == b for a, b in zip(kernel_out, single_out)) / len(prompts):.0%}")


if __name__ == "__main__":
    main()
