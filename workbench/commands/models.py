"""`workbench models ...`: the model registry (local folders, the hub, GGUF files, endpoints, adapters)."""
from __future__ import annotations

import sys

from core.errors import InvalidInput
from workbench.commands.context import add_group


def cmd_list(ctx) -> int:
    from core.models import registry

    models = registry.list_models(ctx.store, actor=ctx.actor, task=ctx.args.task)
    return ctx.table([m.to_dict() for m in models],
                     [{"name": m.name, "kind": m.kind, "task": m.task, "architecture": m.architecture or "",
                       "parameters": m.parameters or "", "context": m.context_length or ""} for m in models],
                     empty="No model is registered; run `workbench init` to install the bundled ones.")


def cmd_show(ctx) -> int:
    from core.models import registry

    model = registry.get_model(ctx.store, actor=ctx.actor, name=ctx.args.name)
    derived = [m.name for m in registry.derived_models(ctx.store, actor=ctx.actor, name=ctx.args.name)]

    def text() -> None:
        for key, value in model.to_dict().items():
            print(f"{key}: {value}")
        print("made from it: " + (", ".join(derived) if derived else "nothing yet"))

    return ctx.show({**model.to_dict(), "derived_models": derived}, text)


def _source(args) -> str | None:
    """The one source flag given (argparse allows one), after checking the flags that go with it."""
    given = [flag for flag, value in (("--folder", args.folder), ("--hub", args.hub), ("--gguf", args.gguf),
                                      ("--endpoint", args.endpoint), ("--adapter", args.adapter)) if value]
    source = given[0] if given else None
    for flag, value, needs in (("--revision", args.revision, "--hub"), ("--model", args.model, "--endpoint"),
                               ("--api-key-env", args.api_key_env, "--endpoint"), ("--base", args.base, "--adapter"),
                               ("--input-per-1k", args.input_per_1k, "--endpoint"),
                               ("--output-per-1k", args.output_per_1k, "--endpoint")):
        if value is not None and source != needs:
            raise InvalidInput(f"{flag} goes with {needs} only.")
    if source == "--endpoint" and not args.model:
        raise InvalidInput("--endpoint needs --model, the model name the server serves.")
    if source == "--adapter" and not args.base:
        raise InvalidInput("--adapter needs --base, the registered model the adapter was trained on.")
    return source


def cmd_add(ctx) -> int:
    from core.models import sources

    args = ctx.args
    source = _source(args)
    store, actor = ctx.store, ctx.actor
    if source == "--folder":
        model = sources.add_local_folder(store, actor=actor, name=args.name, path=args.folder)
    elif source == "--hub":
        if ctx.progress_on_terminal():
            print(f"Downloading {args.hub} from the Hugging Face hub...", file=sys.stderr, flush=True)
        model = sources.add_hub_model(store, actor=actor, name=args.name, repo_id=args.hub, revision=args.revision)
    elif source == "--gguf":
        if ctx.progress_on_terminal():
            print(f"Converting {args.gguf} to safetensors (once)...", file=sys.stderr, flush=True)
        model = sources.add_gguf(store, actor=actor, name=args.name, path=args.gguf)
    elif source == "--endpoint":
        model = sources.add_endpoint(store, actor=actor, name=args.name, base_url=args.endpoint, model=args.model,
                                     api_key_env=args.api_key_env, price_per_1k_input=args.input_per_1k,
                                     price_per_1k_output=args.output_per_1k)
    else:
        model = sources.add_adapter(store, actor=actor, name=args.name, path=args.adapter, base_model=args.base)
    return ctx.show(model.to_dict(), f"Registered {model.name} ({model.kind}, {model.task}) from {model.source}")


def cmd_remove(ctx) -> int:
    from core.models import sources

    removed = sources.remove_model(ctx.store, actor=ctx.actor, name=ctx.args.name)
    return ctx.show(removed.to_dict(), f"Removed {removed.name}" + (
        f" and deleted {removed.deleted_folder}" if removed.deleted_folder else "; its files were left where they are"))


def cmd_merge(ctx) -> int:
    from core.models import sources

    model = sources.add_merged(ctx.store, actor=ctx.actor, name=ctx.args.name, adapter=ctx.args.adapter)
    return ctx.show(model.to_dict(), f"Merged {ctx.args.adapter} into {model.name}: a full model folder at {model.path}")


def cmd_set_price(ctx) -> int:
    from core.models import sources

    model = sources.set_price(ctx.store, actor=ctx.actor, name=ctx.args.name, input_per_1k=ctx.args.input_per_1k,
                              output_per_1k=ctx.args.output_per_1k)
    return ctx.show(model.to_dict(), f"{model.name}: ${model.price_per_1k_input:g} per 1k input tokens, "
                                     f"${model.price_per_1k_output:g} per 1k output tokens")


def cmd_set_precision(ctx) -> int:
    from core.models import registry

    model = registry.set_precision(ctx.store, actor=ctx.actor, name=ctx.args.name, precision=ctx.args.precision)
    return ctx.show(model.to_dict(), f"{model.name} now generates in {model.precision} unless a call asks for another")


def cmd_check(ctx) -> int:
    from core.models import sources

    check = sources.check_endpoint(ctx.store, actor=ctx.actor, name=ctx.args.name, timeout=ctx.args.timeout)
    ctx.show(check.to_dict(), check.message)
    return 0 if check.model_served else 1


def register(commands, add) -> None:
    sub = add_group(commands, "models", "The model registry.")
    models_list = add(sub, "list", cmd_list, "List registered models.")
    models_list.add_argument("--task", choices=["chat", "embedding"])
    models_show = add(sub, "show", cmd_show, "Show one model; `path` is its local folder.")
    models_show.add_argument("name")
    models_add = add(sub, "add", cmd_add, "Register a model from exactly one source: a local Hugging Face "
                                          "folder, a hub repository, a GGUF file, an OpenAI-compatible "
                                          "endpoint or a LoRA adapter.")
    models_add.add_argument("name", help="Letters, digits, dots, dashes and underscores (up to 128).")
    models_source = models_add.add_mutually_exclusive_group(required=True)
    models_source.add_argument("--folder", metavar="PATH", help="Hugging Face model folder (config.json, "
                                                                "*.safetensors, tokenizer); used where it is.")
    models_source.add_argument("--hub", metavar="REPO_ID", help="Hugging Face hub repository, downloaded once into "
                                                                "the model store (needs a network).")
    models_source.add_argument("--gguf", metavar="FILE", help="GGUF file, converted once to safetensors in the "
                                                              "model store.")
    models_source.add_argument("--endpoint", metavar="URL", help="OpenAI-compatible base URL, e.g. "
                                                                 "http://localhost:8000/v1 (vLLM, llama.cpp, Ollama, OpenAI).")
    models_source.add_argument("--adapter", metavar="PATH", help="PEFT LoRA folder (adapter_config.json + "
                                                                 "adapter_model.safetensors); needs --base.")
    models_add.add_argument("--revision", help="Hub branch, tag or commit (with --hub).")
    models_add.add_argument("--model", metavar="MODEL_NAME", help="Model name the endpoint serves (with --endpoint).")
    models_add.add_argument("--api-key-env", metavar="VAR", help="NAME of the environment variable or Streamlit "
                                                                 "secret holding the API key; the key is never stored.")
    models_add.add_argument("--input-per-1k", type=float, help="USD per 1,000 input tokens (with --endpoint).")
    models_add.add_argument("--output-per-1k", type=float, help="USD per 1,000 output tokens (with --endpoint).")
    models_add.add_argument("--base", metavar="NAME", help="Registered base model of the adapter (with --adapter).")
    models_remove = add(sub, "remove", cmd_remove, "Unregister a model; folders the workbench made for "
                                                   "it are deleted, your own folders are not.")
    models_remove.add_argument("name")
    models_merge = add(sub, "merge", cmd_merge, "Merge a LoRA adapter into its base and register the "
                                                "result as a full model folder (merge-and-export).")
    models_merge.add_argument("adapter", help="The registered adapter.")
    models_merge.add_argument("--name", required=True, help="Name of the merged model.")
    models_price = add(sub, "set-price", cmd_set_price, "Set a model's price in USD per 1,000 tokens.")
    models_price.add_argument("name")
    models_price.add_argument("--input-per-1k", type=float, required=True, help="USD per 1,000 input tokens.")
    models_price.add_argument("--output-per-1k", type=float, required=True, help="USD per 1,000 output tokens.")
    models_precision = add(sub, "set-precision", cmd_set_precision,
                           "Choose the precision a local chat model generates in: fp32 (default; greedy answers "
                           "match one-at-a-time generation), bf16 or int8 (faster on CPUs with bf16 kernels; "
                           "answers may differ, see `bench/generate.py --precisions`).")
    models_precision.add_argument("name")
    models_precision.add_argument("precision", choices=["fp32", "bf16", "int8"])
    models_check = add(sub, "check", cmd_check, "Ask a registered endpoint which models it serves; "
                                                "exit 1 when it does not list the model.")
    models_check.add_argument("name")
    models_check.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait for the server.")
