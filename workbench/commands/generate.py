"""`workbench generate`: batched answers for a JSONL file with a registered chat model."""
from __future__ import annotations

import json
import sys

from core.errors import InvalidInput


def read_jsonl_objects(path: str) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file."""
    records = []
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read ({exc.strerror}).") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"{path}, line {number}: not valid JSON ({exc.msg}).") from None
                if not isinstance(record, dict):
                    raise InvalidInput(f"{path}, line {number}: expected a JSON object, not {type(record).__name__}.")
                records.append((number, record))
        except UnicodeDecodeError:
            raise InvalidInput(f"{path} is not UTF-8 text.") from None
    if not records:
        raise InvalidInput(f"{path} holds no input lines.")
    return records


def _conversations(ctx, records: list[tuple[int, dict]]) -> list[list[dict]]:
    """Each line's chat: the template filled with the line's variables, or its 'prompt' (and 'system')."""
    args = ctx.args
    conversations = []
    if args.template:
        from core.prompts import templates

        template = templates.get_version(ctx.store, actor=ctx.actor, ref=args.template)
        for number, record in records:
            try:
                conversations.append(template.messages(record))
            except InvalidInput as exc:
                raise InvalidInput(f"{args.input}, line {number}: {exc.message}") from None
        return conversations
    for number, record in records:
        if not isinstance(record.get("prompt"), str):
            raise InvalidInput(f"{args.input}, line {number}: expected a text 'prompt' field "
                               "(or pass --template to fill a template's variables from each line).")
        system = [{"role": "system", "content": record["system"]}] if isinstance(record.get("system"), str) else []
        conversations.append(system + [{"role": "user", "content": record["prompt"]}])
    return conversations


def cmd_generate(ctx) -> int:
    """Batched generation over a JSONL file: one JSON object out per line in, in input order."""
    from core.inference import engines
    from core.inference.generate import GenerationSettings
    from workbench.commands.options import from_options

    settings = from_options(ctx.args, GenerationSettings)
    records = read_jsonl_objects(ctx.args.input)
    store, actor = ctx.store, ctx.actor
    conversations = _conversations(ctx, records)
    engines.chat_model_info(store, actor=actor, name=ctx.args.model)  # a wrong model fails before anything loads
    progress = (lambda done, total: print(f"\r{done}/{total} prompts", end="", file=sys.stderr, flush=True)) \
        if ctx.progress_on_terminal() else None
    results = engines.complete_chats(store, actor=actor, model=ctx.args.model, conversations=conversations,
                                     settings=settings, progress=progress)
    if progress:
        print(file=sys.stderr)
    for result in results:
        if ctx.json:
            print(json.dumps({k: v for k, v in result.to_dict().items() if k != "finish_reason"}, ensure_ascii=False))
        else:
            print(result.output)
            print(f"  [{result.tokens_in} tokens in, {result.tokens_out} out, {result.latency_s:.2f} s]", file=sys.stderr)
    return 0


def register(commands, add) -> None:
    from core.inference.generate import GenerationSettings
    from workbench.commands.options import add_options

    generate = add(commands, "generate", cmd_generate, "Generate answers for a JSONL file with a registered chat "
                                                       "model (batched; greedy unless --temperature is set).")
    generate.add_argument("--model", default="smollm2-135m-instruct", help="Registered chat model.")
    generate.add_argument("--input", required=True, help="JSONL file; each line an object with a 'prompt' field "
                                                         "(and optionally 'system'), or the template's variables.")
    generate.add_argument("--template", metavar="NAME@VERSION", help="Prompt template whose variables each input line "
                                                                     "fills (NAME, NAME@3 or NAME@production).")
    add_options(generate, GenerationSettings)  # --max-new-tokens, --temperature, --top-p, --seed, --stop, --batch-size
