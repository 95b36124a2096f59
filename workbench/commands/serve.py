"""`workbench serve`, `workbench keys ...`, `workbench deploy ...` and `workbench deployments ...`: the
OpenAI-compatible server, the API keys applications call it with, and the deployments they call."""
from __future__ import annotations

import json
import os
from pathlib import Path

from core.errors import InvalidInput
from workbench.commands import context



# --- serve ---------------------------------------------------------------------------------------------------

def cmd_serve(args) -> int:
    import uvicorn

    from core.governance.roles import Permission, require
    from core.serving.app import ServeConfig, create_app

    store = context.open_store()
    require(context.actor_of(args, store), Permission.RUN_INFERENCE)
    config = ServeConfig(batch_size=args.batch_size, max_waiting=args.max_queue, log_events=not args.no_events)
    if args.preload is not None:
        config.preload = [m.strip() for m in args.preload.split(",") if m.strip()]
    app = create_app(store, config)
    shown = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    print(f"OpenAI-compatible API: http://{shown}:{args.port}/v1 (keys: `workbench keys add NAME`)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


# --- keys ----------------------------------------------------------------------------------------------------

def cmd_keys_add(args) -> int:
    from core.serving import keys

    store = context.open_store()
    models = [m for m in args.models.split(",")] if args.models else None
    info, key = keys.create_key(store, actor=context.actor_of(args, store), name=args.name, scopes=args.scopes,
                                models=models, rate_limit=args.rate_limit)
    if args.json:
        context.print_json({"name": info.name, "key": key, "scopes": info.scopes, "models": info.models,
                         "rate_limit_per_min": info.rate_limit_per_min})
    else:
        print(f"API key '{info.name}' ({', '.join(info.scopes)}); shown once, keep it now:\n{key}")
    return 0


def cmd_keys_list(args) -> int:
    from core.serving import keys

    store = context.open_store()
    found = keys.list_keys(store, actor=context.actor_of(args, store))
    if args.json:
        context.print_json([k.to_dict() for k in found])
    elif not found:
        print("No API key yet; add one with `workbench keys add NAME`.")
    else:
        context.print_table([{"name": k.name, "key": k.prefix + "...", "scopes": ",".join(k.scopes),
                           "models": ",".join(k.models) if k.models else "all",
                           "rate": f"{k.rate_limit_per_min}/min" if k.rate_limit_per_min else "-",
                           "by": k.created_by, "created": f"{k.created_at:%Y-%m-%d %H:%M}",
                           "status": "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"}
                          for k in found])
    return 0


def cmd_keys_revoke(args) -> int:
    from core.serving import keys

    store = context.open_store()
    info = keys.revoke_key(store, actor=context.actor_of(args, store), name=args.name)
    context.print_json(info.to_dict()) if args.json else print(f"Revoked the API key '{info.name}'; it is refused from now on.")
    return 0


# --- deployments ---------------------------------------------------------------------------------------------

def _guardrails(value: str | None) -> dict | None:
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"The guardrails file {value[1:]} cannot be read ({exc.strerror}).") from None
    try:
        parsed = json.loads(text)
    except ValueError:
        raise InvalidInput("--guardrails must be a JSON object (or @FILE holding one).") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("--guardrails must be a JSON object (or @FILE holding one).")
    return parsed


def cmd_deploy(args) -> int:
    from core.serving import deployments

    store = context.open_store()
    actor = context.actor_of(args, store)
    defaults = {k: v for k, v in (("temperature", args.temperature), ("top_p", args.top_p),
                                  ("max_tokens", args.max_tokens), ("seed", args.seed),
                                  ("stop", args.stop)) if v is not None}
    version = deployments.create_version(store, actor=actor, name=args.name, model=args.model, template=args.template,
                                         defaults=defaults, guardrails=_guardrails(args.guardrails),
                                         fallback_model=args.fallback, timeout_s=args.timeout, note=args.note)
    if args.promote and version.promoted_at is None:
        deployments.promote(store, actor=actor, name=args.name, version=version.version)
        version = deployments.get_deployment(store, actor=actor, name=args.name).version(version.version)
    if args.json:
        context.print_json(version.to_dict())
    else:
        state = "serving" if version.promoted_at else \
            f"not serving yet (`workbench deployments promote {args.name}` or `... traffic`)"
        print(f"{version.ref}: {version.model}" + (f" with {version.template}" if version.template else "") + f", {state}.")
    return 0


def cmd_list(args) -> int:
    from core.serving import deployments

    store = context.open_store()
    found = deployments.list_deployments(store, actor=context.actor_of(args, store))
    if args.json:
        context.print_json([d.to_dict() for d in found])
    elif not found:
        print("No deployment yet; make one with `workbench deploy NAME --model MODEL`.")
    else:
        context.print_table([{"name": d.name, "serving": f"v{d.current_version}" if d.current_version else "-",
                           "model": d.current.model if d.current else "-",
                           "template": (d.current.template or "-") if d.current else "-",
                           "candidate": f"v{d.candidate_version} ({d.candidate_weight:.0%})" if d.candidate_version else "-",
                           "versions": len(d.versions)} for d in found])
    return 0


def cmd_show(args) -> int:
    from core.serving import deployments

    store = context.open_store()
    actor = context.actor_of(args, store)
    deployment = deployments.get_deployment(store, actor=actor, name=args.name)
    counts = deployments.traffic(store, actor=actor, name=args.name)
    lineage = deployments.lineage(store, actor=actor, name=args.name) if deployment.current_version else None
    if args.json:
        context.print_json({**deployment.to_dict(), "traffic": counts, "lineage": lineage})
        return 0
    print(f"{deployment.name}: serving v{deployment.current_version}"
          + (f", v{deployment.candidate_version} takes {deployment.candidate_weight:.0%} of users"
             if deployment.candidate_version else ""))
    context.print_table([{"version": v.version, "model": v.model, "template": v.template or "-",
                       "defaults": json.dumps(v.defaults) if v.defaults else "-", "fallback": v.fallback_model or "-",
                       "by": v.created_by, "promoted": f"{v.promoted_at:%Y-%m-%d %H:%M} by {v.promoted_by}"
                       if v.promoted_at else "-"} for v in deployment.versions])
    if counts:
        print("\nTraffic (from the event log):")
        context.print_table(counts)
    if lineage:
        print("\nLineage: " + ", ".join(f"{k}={v}" for k, v in lineage.items() if v is not None))
    return 0


def cmd_promote(args) -> int:
    from core.serving import deployments

    store = context.open_store()
    deployment = deployments.promote(store, actor=context.actor_of(args, store), name=args.name, version=args.version,
                                     force=args.force)
    context.print_json(deployment.to_dict()) if args.json else \
        print(f"{deployment.name} now serves v{deployment.current_version}.")
    return 0


def cmd_rollback(args) -> int:
    from core.serving import deployments

    store = context.open_store()
    deployment = deployments.rollback(store, actor=context.actor_of(args, store), name=args.name)
    context.print_json(deployment.to_dict()) if args.json else \
        print(f"{deployment.name} rolled back; it serves v{deployment.current_version}.")
    return 0


def cmd_traffic(args) -> int:
    from core.serving import deployments

    store = context.open_store()
    deployment = deployments.set_traffic(store, actor=context.actor_of(args, store), name=args.name,
                                         candidate=args.version, weight=args.weight)
    if args.json:
        context.print_json(deployment.to_dict())
    elif deployment.candidate_version:
        print(f"{deployment.name}: v{deployment.candidate_version} takes {deployment.candidate_weight:.0%} of end "
              f"users (sticky per user), v{deployment.current_version} the rest.")
    else:
        print(f"{deployment.name}: all traffic to v{deployment.current_version}.")
    return 0


def register(commands, add) -> None:
    serve = add(commands, "serve", cmd_serve, "Serve registered models and deployments over an OpenAI-compatible "
                                              "HTTP API (/v1).", json_flag=False)
    serve.add_argument("--host", default=os.environ.get("WORKBENCH_SERVE_HOST", "127.0.0.1"),
                       help="Address to listen on; 0.0.0.0 to serve other machines.")
    serve.add_argument("--port", type=int, default=int(os.environ.get("WORKBENCH_SERVE_PORT") or 8000))
    serve.add_argument("--batch-size", type=int, default=32, help="Most requests decoded together per model.")
    serve.add_argument("--max-queue", type=int, default=64,
                       help="Most requests waiting for a slot per model; beyond it, 429 with Retry-After.")
    serve.add_argument("--preload", metavar="MODELS",
                       help="Comma-separated models loaded at start (default: the bundled chat and embedding models).")
    serve.add_argument("--no-events", action="store_true", help="Do not log calls to the event log.")

    keys = commands.add_parser("keys", help="API keys for the server (admins).", description="API keys for the server.")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", parser_class=context.Parser, required=True)
    keys_add = add(keys_sub, "add", cmd_keys_add, "Make an API key; it is printed once, the database keeps a hash.")
    keys_add.add_argument("name", help="The application's name (recorded on its events).")
    keys_add.add_argument("--scopes", default="chat,embeddings", help="Comma-separated: chat, embeddings, events, feedback.")
    keys_add.add_argument("--models", help="Comma-separated models and deployments the key may use (default: all).")
    keys_add.add_argument("--rate-limit", help="Requests a minute, like 60/min (default: no limit).")
    add(keys_sub, "list", cmd_keys_list, "List API keys (never the keys themselves).")
    keys_revoke = add(keys_sub, "revoke", cmd_keys_revoke, "Revoke an API key; the server refuses it at once.")
    keys_revoke.add_argument("name")

    deploy = add(commands, "deploy", cmd_deploy, "Make a new version of a deployment (the first one serves at once).")
    deploy.add_argument("name")
    deploy.add_argument("--model", required=True, help="A registered chat model or adapter.")
    deploy.add_argument("--template", help="A prompt template, NAME@LABEL or NAME@VERSION, e.g. ticket-reply@production.")
    deploy.add_argument("--temperature", type=float)
    deploy.add_argument("--top-p", type=float)
    deploy.add_argument("--max-tokens", type=int)
    deploy.add_argument("--seed", type=int)
    deploy.add_argument("--stop", action="append", help="A stop string (repeat for several).")
    deploy.add_argument("--guardrails", help="Guardrail settings as JSON, or @FILE.")
    deploy.add_argument("--fallback", help="A model that answers when this version fails or times out.")
    deploy.add_argument("--timeout", type=float, help="Seconds before the fallback model answers instead.")
    deploy.add_argument("--note")
    deploy.add_argument("--promote", action="store_true", help="Serve the new version at once.")

    group = commands.add_parser("deployments", help="List, show, promote and roll back deployments.",
                                description="List, show, promote and roll back deployments.")
    sub = group.add_subparsers(dest="deployments_command", metavar="ACTION", parser_class=context.Parser, required=True)
    add(sub, "list", cmd_list, "List deployments and the version each serves.")
    show = add(sub, "show", cmd_show, "A deployment's versions, traffic and lineage.")
    show.add_argument("name")
    promote = add(sub, "promote", cmd_promote, "Serve a version (default: the newest), after the promotion gate.")
    promote.add_argument("name")
    promote.add_argument("--version", type=int)
    promote.add_argument("--force", action="store_true", help="Admins only: promote even if the gate refuses (audited).")
    rollback = add(sub, "rollback", cmd_rollback, "Serve again the version promoted before the current one.")
    rollback.add_argument("name")
    traffic = add(sub, "traffic", cmd_traffic, "Split end users between the serving version and another (A/B).")
    traffic.add_argument("name")
    traffic.add_argument("--version", type=int, help="The candidate version (omit with --weight 0 to end the split).")
    traffic.add_argument("--weight", type=float, required=True, help="Share of end users for the candidate, 0..1.")
