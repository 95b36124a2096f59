"""The `workbench` command: the same core functions as the pages, for terminals and scripts."""
from __future__ import annotations

import argparse
import gc
import getpass
import json
import logging
import os
import sys
from pathlib import Path

from core.errors import InvalidInput, PermissionDenied, WorkbenchError
from core.governance.roles import LOCAL_OPERATOR, Actor

# The Streamlit app (workbench/app.py) served together with the login-cookie routes (workbench/login_cookie.py).
APP_FILE = Path(__file__).resolve().parent / "web.py"
log = logging.getLogger("workbench.cli")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one `error: ...` line and status 2, like every other user error."""

    def error(self, message: str):
        raise InvalidInput(f"{message} (see `{self.prog} --help`)")


def _print_json(value) -> None:
    print(json.dumps(value, indent=2, default=str))


def _print_table(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def _store():
    from core.home import open_store

    return open_store()


def _actor(args, store) -> Actor:
    if not args.user:
        return LOCAL_OPERATOR
    from core.governance.users import get_user

    user = get_user(store, args.user)
    if not user.active:
        raise PermissionDenied(f"The account '{user.name}' is disabled.")
    return user.as_actor()


def _read_password(args, *, confirm: bool = True) -> str:
    """From stdin when it is not a terminal (scripts), else prompted twice."""
    if not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("No password on standard input; pipe one line holding the password.")
        return password
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Password again: ") != password:
        raise InvalidInput("The two passwords differ; nothing was changed.")
    return password


# --- commands -------------------------------------------------------------------------------------------

def cmd_run(args) -> int:
    from core.home import open_store
    from core.jobs import queue, worker

    store = open_store()  # migrate before the first page asks
    # Jobs whose process died with the machine are marked interrupted; queued ones get a worker (it stays while
    # there is work; launching a job starts one again).
    queue.reconcile(store)
    worker.ensure_worker(store.settings)
    store.dispose()
    if os.environ.get("WORKBENCH_SERVE_PORT"):
        # The OpenAI-compatible server beside the app: a child process in the same process group, so Ctrl-C in
        # the terminal ends both (it reads its port from WORKBENCH_SERVE_PORT).
        import subprocess

        subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--host", args.address])
    command = [sys.executable, "-m", "streamlit", "run", str(APP_FILE), "--server.port", str(args.port),
               "--server.address", args.address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    print(f"LLMOps Workbench: http://{'localhost' if args.address in ('127.0.0.1', '0.0.0.0') else args.address}:{args.port}",
          flush=True)
    os.chdir(APP_FILE.parent.parent)  # .streamlit/config.toml is read from the working folder
    os.execv(sys.executable, command)
    return 0


def cmd_init(args) -> int:
    from core.home import init_workbench

    report = init_workbench(with_models=not args.no_models,
                            progress=None if args.json else (lambda m: print(m, flush=True)))
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(f"Workbench home: {report.home}")
    print(f"Database: {report.database} (schema {report.schema_revision})")
    if report.admin_created:
        print(f"Created the first admin 'admin'; its password is in {report.admin_password_file}")
    for name in report.models_registered:
        print(f"Registered bundled model {name}")
    return 0


def cmd_doctor(args) -> int:
    from core.doctor import run_checks
    from core.settings import Settings

    checks = run_checks(Settings.from_env())
    failed = [c for c in checks if c.required and not c.ok]
    if args.json:
        _print_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        for c in checks:
            mark = "ok  " if c.ok else ("FAIL" if c.required else "note")
            print(f"[{mark}] {c.name}: {c.detail}")
    return 1 if failed else 0


def cmd_users_add(args) -> int:
    from core.governance import users

    from core.governance.roles import Role

    Role.parse(args.role)  # a wrong role or name is reported before the password is asked for
    users.validate_name(args.name)
    store = _store()
    password = _read_password(args)
    user = users.create_user(store, actor=_actor(args, store), name=args.name, role=args.role, password=password,
                             email=args.email)
    if args.json:
        _print_json(user.to_dict())
    else:
        print(f"Added {user.name} as {user.role.label.lower()}.")
    return 0


def cmd_users_list(args) -> int:
    from core.governance import users

    store = _store()
    accounts = users.list_users(store, actor=_actor(args, store))
    if args.json:
        _print_json([u.to_dict() for u in accounts])
    else:
        _print_table([{"name": u.name, "role": u.role.value, "active": "yes" if u.active else "no",
                       "login": u.auth_provider, "email": u.email or ""} for u in accounts])
    return 0


def cmd_users_set_role(args) -> int:
    from core.governance import users

    store = _store()
    user = users.set_role(store, actor=_actor(args, store), name=args.name, role=args.role)
    _print_json(user.to_dict()) if args.json else print(f"{user.name} is now {user.role.label.lower()}.")
    return 0


def cmd_users_enable(args, active: bool) -> int:
    from core.governance import users

    store = _store()
    user = users.set_active(store, actor=_actor(args, store), name=args.name, active=active)
    _print_json(user.to_dict()) if args.json else print(f"{user.name} is {'enabled' if active else 'disabled'}.")
    return 0


def cmd_users_passwd(args) -> int:
    from core.governance import users

    store = _store()
    users.set_password(store, actor=_actor(args, store), name=args.name, new_password=_read_password(args))
    print(f"Set a new password for {args.name}; their open logins were ended.")
    return 0


def cmd_models_list(args) -> int:
    from core.models import registry

    store = _store()
    models = registry.list_models(store, actor=_actor(args, store), task=args.task)
    if args.json:
        _print_json([m.to_dict() for m in models])
    elif not models:
        print("No model is registered; run `workbench init` to install the bundled ones.")
    else:
        _print_table([{"name": m.name, "kind": m.kind, "task": m.task, "architecture": m.architecture or "",
                       "parameters": m.parameters or "", "context": m.context_length or ""} for m in models])
    return 0


def cmd_models_show(args) -> int:
    from core.models import registry

    store = _store()
    actor = _actor(args, store)
    model = registry.get_model(store, actor=actor, name=args.name)
    derived = [m.name for m in registry.derived_models(store, actor=actor, name=args.name)]
    if args.json:
        _print_json({**model.to_dict(), "derived_models": derived})
    else:
        for key, value in model.to_dict().items():
            print(f"{key}: {value}")
        print("made from it: " + (", ".join(derived) if derived else "nothing yet"))
    return 0


def cmd_models_add(args) -> int:
    from core.models import sources

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
    store = _store()
    actor = _actor(args, store)
    if source == "--folder":
        model = sources.add_local_folder(store, actor=actor, name=args.name, path=args.folder)
    elif source == "--hub":
        if not args.json and sys.stderr.isatty():
            print(f"Downloading {args.hub} from the Hugging Face hub...", file=sys.stderr, flush=True)
        model = sources.add_hub_model(store, actor=actor, name=args.name, repo_id=args.hub, revision=args.revision)
    elif source == "--gguf":
        if not args.json and sys.stderr.isatty():
            print(f"Converting {args.gguf} to safetensors (once)...", file=sys.stderr, flush=True)
        model = sources.add_gguf(store, actor=actor, name=args.name, path=args.gguf)
    elif source == "--endpoint":
        model = sources.add_endpoint(store, actor=actor, name=args.name, base_url=args.endpoint, model=args.model,
                                     api_key_env=args.api_key_env, price_per_1k_input=args.input_per_1k,
                                     price_per_1k_output=args.output_per_1k)
    else:
        model = sources.add_adapter(store, actor=actor, name=args.name, path=args.adapter, base_model=args.base)
    if args.json:
        _print_json(model.to_dict())
    else:
        print(f"Registered {model.name} ({model.kind}, {model.task}) from {model.source}")
    return 0


def cmd_models_remove(args) -> int:
    from core.models import sources

    store = _store()
    removed = sources.remove_model(store, actor=_actor(args, store), name=args.name)
    if args.json:
        _print_json(removed.to_dict())
    else:
        print(f"Removed {removed.name}" + (f" and deleted {removed.deleted_folder}" if removed.deleted_folder else
                                           "; its files were left where they are"))
    return 0


def cmd_models_merge(args) -> int:
    from core.models import sources

    store = _store()
    model = sources.add_merged(store, actor=_actor(args, store), name=args.name, adapter=args.adapter)
    if args.json:
        _print_json(model.to_dict())
    else:
        print(f"Merged {args.adapter} into {model.name}: a full model folder at {model.path}")
    return 0


def cmd_models_set_price(args) -> int:
    from core.models import sources

    store = _store()
    model = sources.set_price(store, actor=_actor(args, store), name=args.name, input_per_1k=args.input_per_1k,
                              output_per_1k=args.output_per_1k)
    if args.json:
        _print_json(model.to_dict())
    else:
        print(f"{model.name}: ${model.price_per_1k_input:g} per 1k input tokens, "
              f"${model.price_per_1k_output:g} per 1k output tokens")
    return 0


def cmd_models_check(args) -> int:
    from core.models import sources

    store = _store()
    check = sources.check_endpoint(store, actor=_actor(args, store), name=args.name, timeout=args.timeout)
    _print_json(check.to_dict()) if args.json else print(check.message)
    return 0 if check.model_served else 1


def cmd_audit_list(args) -> int:
    from core.governance import audit

    store = _store()
    events = audit.list_events(store, actor=_actor(args, store), filters=audit.AuditFilter(
        actor=args.actor, action=args.action, target_type=args.target, limit=args.limit))
    rows = [{**audit.to_row(e), "target": f"{e.target_type}:{e.target_id}"} for e in events]
    if args.json:
        _print_json(rows)
    else:
        _print_table([{"at": r["at"], "actor": r["actor"], "role": r["actor_role"], "via": r["via"] or "",
                       "action": r["action"], "target": r["target"]} for r in rows])
    return 0


def cmd_demo_seed(args) -> int:
    from core import demo

    store = _store()
    report = demo.seed_demo(store, actor=_actor(args, store))
    if args.json:
        _print_json(report.__dict__)
    else:
        created = ", ".join(report.users_created) or "nothing new"
        print(f"Demo seeded ({created}); logins are in {report.logins_file}")
    return 0


def cmd_data_import(args) -> int:
    from core.data import ingest

    store = _store()
    result = ingest.import_file(store, actor=_actor(args, store), path=args.path, name=args.name,
                                skip_bad_rows=args.skip_bad_rows, sheet=args.sheet, description=args.description)
    if args.json:
        _print_json(result.to_dict())
        return 0
    v = result.version
    verb = "Imported" if result.created else "Already stored (identical content):"
    print(f"{verb} {v.ref}: {v.rows:,} rows, {len(v.columns)} columns ({result.format}), sha256 {v.sha256[:12]}")
    for skipped in result.skipped[:20]:
        print(f"  skipped line {skipped.line}: {skipped.reason}")
    if len(result.skipped) > 20:
        print(f"  ... and {len(result.skipped) - 20} more skipped rows")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def cmd_data_list(args) -> int:
    from core.data import versions

    store = _store()
    datasets = versions.list_datasets(store, actor=_actor(args, store))
    if args.json:
        _print_json([d.to_dict() for d in datasets])
    elif not datasets:
        print("No dataset yet; import one with `workbench data import FILE --name NAME`.")
    else:
        _print_table([{"name": d.name, "versions": d.versions, "latest": d.latest.ref if d.latest else "",
                       "rows": d.latest.rows if d.latest else "", "made by": d.latest.transformation if d.latest else "",
                       "created": d.latest.created_at.strftime("%Y-%m-%d %H:%M") if d.latest else ""} for d in datasets])
    return 0


def cmd_data_show(args) -> int:
    from core.data import versions

    store = _store()
    actor = _actor(args, store)
    version = versions.get_version(store, actor=actor, ref=args.ref)
    lineage = versions.lineage(store, actor=actor, ref=version.ref)
    payload = {**version.to_dict(), "lineage": lineage.to_dict()}
    if args.json:
        _print_json(payload)
        return 0
    for key in ("ref", "rows", "sha256", "transformation", "source", "parents", "created_by", "created_at"):
        print(f"{key}: {payload[key]}")
    print("columns: " + ", ".join(f"{c['name']} ({c['dtype']})" for c in version.columns))
    made = sorted({child for _, child in lineage.descendants})
    print("made from it: " + (", ".join(made) if made else "nothing yet"))
    return 0


def cmd_data_export(args) -> int:
    from core.data import export

    store = _store()
    result = export.export_version(store, actor=_actor(args, store), ref=args.ref, fmt=args.format, out=args.out)
    _print_json(result.to_dict()) if args.json else print(f"Wrote {result.rows:,} rows of {result.ref} to {result.path}")
    return 0


def cmd_data_profile(args) -> int:
    from core.data import profile

    store = _store()
    options = profile.ProfileOptions(tokenizer_model=args.tokenizer, max_length=args.max_length,
                                     sample_rows=args.sample_rows)
    progress = None if args.json or not sys.stderr.isatty() else \
        (lambda share, message: print(f"\r[{share:4.0%}] {message[:70]:<70}", end="", file=sys.stderr, flush=True))
    report = profile.profile_version(store, actor=_actor(args, store), ref=args.ref, options=options,
                                     progress=progress, refresh=args.refresh)
    if progress:
        print(file=sys.stderr)
    if args.json:
        _print_json(report)
        return 0
    print(f"{report['ref']}: {report['rows']:,} rows, {len(report['columns'])} columns; format: {report['format']['label']}"
          f" ({report['format']['explanation']})")
    _print_table([{"column": c["name"], "type": c["type"], "missing": f"{c['missing_share']:.1%}",
                   "distinct": c.get("distinct", "")} for c in report["columns"]])
    print("alerts:" if report["alerts"] else "alerts: none")
    for alert in report["alerts"]:
        print(f"  [{alert['severity']}] {alert['message']}")
    return 0


def cmd_data_redact(args) -> int:
    from core.data import redact

    store = _store()
    types = [t.strip() for t in args.types.split(",") if t.strip()] if args.types else None
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    result = redact.redact_version(store, actor=_actor(args, store), ref=args.ref, types=types, columns=columns)
    if args.json:
        _print_json(result.to_dict())
    else:
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items()) or "no PII found"
        print(f"{result.version.ref} made from {result.parent.ref}: {counts}")
    return 0


def cmd_data_overlap(args) -> int:
    from core.data import overlap

    store = _store()
    report = overlap.check_overlap(store, actor=_actor(args, store), train_ref=args.train, eval_ref=args.eval,
                                   column=args.column, threshold=args.threshold)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{report.eval} vs {report.train}: {report.exact:,} exact and {report.near:,} near-duplicate rows "
              f"of {report.checked_eval_rows:,} checked ({report.contaminated_share:.1%} contaminated)")
    return 0


def _print_transform(args, result) -> int:
    if args.json:
        _print_json(result.to_dict())
    else:
        made = ", ".join(f"{v.ref} ({v.rows:,} rows)" for v in result.versions)
        print(f"Made {made} from {', '.join(p.ref for p in result.parents)}"
              + (f"; removed {result.removed:,} rows" if result.removed else ""))
    return 0


def cmd_data_dedupe(args) -> int:
    from core.data import transform

    store = _store()
    return _print_transform(args, transform.dedupe_version(store, actor=_actor(args, store), ref=args.ref,
                                                           column=args.column, near=args.near, threshold=args.threshold))


def cmd_data_filter(args) -> int:
    from core.data import transform

    store = _store()
    columns = [c.strip() for c in args.require.split(",") if c.strip()] if args.require else None
    return _print_transform(args, transform.filter_version(store, actor=_actor(args, store), ref=args.ref,
                                                           drop_format_issues=not args.keep_format_issues,
                                                           require_columns=columns))


def cmd_data_split(args) -> int:
    from core.data import transform

    store = _store()
    return _print_transform(args, transform.split_version(store, actor=_actor(args, store), ref=args.ref,
                                                          eval_share=args.eval_share, seed=args.seed,
                                                          train_name=args.train_name, eval_name=args.eval_name))


def cmd_data_merge(args) -> int:
    from core.data import transform

    store = _store()
    return _print_transform(args, transform.merge_versions(store, actor=_actor(args, store), refs=args.refs,
                                                           name=args.name))


def _read_jsonl_objects(path: str) -> list[tuple[int, dict]]:
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


def cmd_generate(args) -> int:
    """Batched generation over a JSONL file: one JSON object out per line in, in input order."""
    from core.inference import engines
    from core.inference.generate import GenerationSettings

    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                                  seed=args.seed, stop=tuple(args.stop or ()), batch_size=args.batch_size)
    records = _read_jsonl_objects(args.input)
    store = _store()
    actor = _actor(args, store)
    conversations = []
    if args.template:
        from core.prompts import templates

        template = templates.get_version(store, actor=actor, ref=args.template)
        for number, record in records:
            try:
                conversations.append(template.messages(record))
            except InvalidInput as exc:
                raise InvalidInput(f"{args.input}, line {number}: {exc.message}") from None
    else:
        for number, record in records:
            if not isinstance(record.get("prompt"), str):
                raise InvalidInput(f"{args.input}, line {number}: expected a text 'prompt' field "
                                   "(or pass --template to fill a template's variables from each line).")
            system = [{"role": "system", "content": record["system"]}] if isinstance(record.get("system"), str) else []
            conversations.append(system + [{"role": "user", "content": record["prompt"]}])
    engines.chat_model_info(store, actor=actor, name=args.model)  # a wrong model fails before anything loads
    progress = None if args.json or not sys.stderr.isatty() else \
        (lambda done, total: print(f"\r{done}/{total} prompts", end="", file=sys.stderr, flush=True))
    results = engines.complete_chats(store, actor=actor, model=args.model, conversations=conversations,
                                     settings=settings, progress=progress)
    if progress:
        print(file=sys.stderr)
    for result in results:
        if args.json:
            print(json.dumps({k: v for k, v in result.to_dict().items() if k != "finish_reason"}, ensure_ascii=False))
        else:
            print(result.output)
            print(f"  [{result.tokens_in} tokens in, {result.tokens_out} out, {result.latency_s:.2f} s]", file=sys.stderr)
    return 0


# --- parser ---------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="workbench", description="LLMOps Workbench: data, prompts, fine-tunes, feedback and "
                                                   "monitoring of language models.")
    parser.add_argument("--user", metavar="NAME", help="Act as this workbench user, with that user's role "
                                                       "(default: the local operator, an admin).")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(sub, name, func, help_text, json_flag=True):
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(func=func)
        if json_flag:
            command.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        return command

    run = add(commands, "run", cmd_run, "Start the app (http://localhost:8501).", json_flag=False)
    run.add_argument("--port", type=int, default=int(os.environ.get("WORKBENCH_PORT", 8501)))
    run.add_argument("--address", default=os.environ.get("WORKBENCH_ADDRESS", "127.0.0.1"),
                     help="Address to listen on; 0.0.0.0 to serve other machines.")
    init = add(commands, "init", cmd_init, "Create the workbench home, apply migrations, add the first admin and "
                                           "install the bundled models. Safe to repeat.")
    init.add_argument("--no-models", action="store_true", help="Skip installing the bundled models.")
    add(commands, "doctor", cmd_doctor, "Check Python, torch, GPUs, bundled models, the database and the home folder.")

    users = commands.add_parser("users", help="Manage accounts (admins).", description="Manage accounts (admins).")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", parser_class=_Parser, required=True)
    users_add = add(users_sub, "add", cmd_users_add, "Add a local account; the password comes from stdin or a prompt.")
    users_add.add_argument("name")
    users_add.add_argument("--role", required=True, help="admin, data_scientist, annotator or viewer.")
    users_add.add_argument("--email")
    add(users_sub, "list", cmd_users_list, "List accounts.")
    set_role = add(users_sub, "set-role", cmd_users_set_role, "Change an account's role.")
    set_role.add_argument("name")
    set_role.add_argument("role")
    for action, active in (("enable", True), ("disable", False)):
        toggle = add(users_sub, action, lambda a, active=active: cmd_users_enable(a, active),
                     f"{action.capitalize()} an account{'; its open logins end' if not active else ''}.")
        toggle.add_argument("name")
    passwd = add(users_sub, "passwd", cmd_users_passwd, "Set an account's password (stdin or prompt).", json_flag=False)
    passwd.add_argument("name")

    models = commands.add_parser("models", help="The model registry.", description="The model registry.")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser, required=True)
    models_list = add(models_sub, "list", cmd_models_list, "List registered models.")
    models_list.add_argument("--task", choices=["chat", "embedding"])
    models_show = add(models_sub, "show", cmd_models_show, "Show one model; `path` is its local folder.")
    models_show.add_argument("name")
    models_add = add(models_sub, "add", cmd_models_add, "Register a model from exactly one source: a local Hugging Face "
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
    models_remove = add(models_sub, "remove", cmd_models_remove, "Unregister a model; folders the workbench made for "
                                                                 "it are deleted, your own folders are not.")
    models_remove.add_argument("name")
    models_merge = add(models_sub, "merge", cmd_models_merge, "Merge a LoRA adapter into its base and register the "
                                                              "result as a full model folder (merge-and-export).")
    models_merge.add_argument("adapter", help="The registered adapter.")
    models_merge.add_argument("--name", required=True, help="Name of the merged model.")
    models_price = add(models_sub, "set-price", cmd_models_set_price, "Set a model's price in USD per 1,000 tokens.")
    models_price.add_argument("name")
    models_price.add_argument("--input-per-1k", type=float, required=True, help="USD per 1,000 input tokens.")
    models_price.add_argument("--output-per-1k", type=float, required=True, help="USD per 1,000 output tokens.")
    models_check = add(models_sub, "check", cmd_models_check, "Ask a registered endpoint which models it serves; "
                                                              "exit 1 when it does not list the model.")
    models_check.add_argument("name")
    models_check.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait for the server.")

    data = commands.add_parser("data", help="Datasets: import, versions, profile, redact, export.",
                               description="Datasets: import, versions, profile, redact, export.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", parser_class=_Parser, required=True)
    data_import = add(data_sub, "import", cmd_data_import, "Import a CSV/TSV, JSONL, JSON, Parquet or Excel file as a "
                                                           "new dataset version.")
    data_import.add_argument("path")
    data_import.add_argument("--name", required=True, help="Dataset name; an existing name gets a new version.")
    data_import.add_argument("--skip-bad-rows", action="store_true", help="Skip malformed rows instead of refusing the file.")
    data_import.add_argument("--sheet", help="Excel sheet to read (default: the first).")
    data_import.add_argument("--description")
    add(data_sub, "list", cmd_data_list, "List datasets with their latest version.")
    data_show = add(data_sub, "show", cmd_data_show, "Show a dataset version (NAME or NAME@N) and its lineage.")
    data_show.add_argument("ref", metavar="NAME[@VERSION]")
    data_export = add(data_sub, "export", cmd_data_export, "Export a dataset version; CSV and Excel neutralise formulas.")
    data_export.add_argument("ref", metavar="NAME[@VERSION]")
    data_export.add_argument("--format", required=True, choices=["csv", "jsonl", "parquet", "xlsx"])
    data_export.add_argument("--out", required=True, help="File to write.")
    data_profile = add(data_sub, "profile", cmd_data_profile, "Profile a dataset version (cached per version).")
    data_profile.add_argument("ref", metavar="NAME[@VERSION]")
    data_profile.add_argument("--tokenizer", default="smollm2-135m-instruct", help="Registered model whose tokenizer counts tokens.")
    data_profile.add_argument("--max-length", type=int, default=512, help="Training max length in tokens.")
    data_profile.add_argument("--sample-rows", type=int, default=20_000, help="Rows sampled for tokens, near-duplicates and PII.")
    data_profile.add_argument("--refresh", action="store_true", help="Recompute instead of reading the cache.")
    data_redact = add(data_sub, "redact", cmd_data_redact, "Make a new version with PII replaced by typed placeholders.")
    data_redact.add_argument("ref", metavar="NAME[@VERSION]")
    data_redact.add_argument("--types", help="Comma-separated PII types (default: all): email,phone,credit_card,iban,ip_address,us_ssn")
    data_redact.add_argument("--columns", help="Comma-separated columns (default: every text column).")
    data_dedupe = add(data_sub, "dedupe", cmd_data_dedupe, "New version without repeated rows (first kept).")
    data_dedupe.add_argument("ref", metavar="NAME[@VERSION]")
    data_dedupe.add_argument("--column", help="Text to compare (default: the training text of the detected format).")
    data_dedupe.add_argument("--near", action="store_true", help="Also drop near-duplicates (MinHash, word 3-grams).")
    data_dedupe.add_argument("--threshold", type=float, default=0.8, help="Near-duplicate similarity threshold.")
    data_filter = add(data_sub, "filter", cmd_data_filter, "New version without the rows that break the fine-tuning "
                                                           "format (and, optionally, rows missing a value).")
    data_filter.add_argument("ref", metavar="NAME[@VERSION]")
    data_filter.add_argument("--keep-format-issues", action="store_true", help="Do not drop format problems.")
    data_filter.add_argument("--require", help="Comma-separated columns that must have a value.")
    data_split = add(data_sub, "split", cmd_data_split, "Seeded random train/evaluation split into two datasets.")
    data_split.add_argument("ref", metavar="NAME[@VERSION]")
    data_split.add_argument("--eval-share", type=float, default=0.1, help="Share of rows for evaluation (0-1).")
    data_split.add_argument("--seed", type=int, default=0)
    data_split.add_argument("--train-name", help="Default: NAME-train.")
    data_split.add_argument("--eval-name", help="Default: NAME-eval.")
    data_merge = add(data_sub, "merge", cmd_data_merge, "Stack several versions into a new dataset.")
    data_merge.add_argument("refs", nargs="+", metavar="NAME[@VERSION]")
    data_merge.add_argument("--name", required=True, help="Name of the merged dataset.")
    data_overlap = add(data_sub, "overlap", cmd_data_overlap, "Find evaluation rows that also appear in training data.")
    data_overlap.add_argument("train", metavar="TRAIN[@VERSION]")
    data_overlap.add_argument("eval", metavar="EVAL[@VERSION]")
    data_overlap.add_argument("--column", help="Column to compare (default: the training text of the detected format).")
    data_overlap.add_argument("--threshold", type=float, default=0.8, help="Near-duplicate similarity threshold.")

    generate = add(commands, "generate", cmd_generate, "Generate answers for a JSONL file with a registered chat "
                                                         "model (batched; greedy unless --temperature is set).")
    generate.add_argument("--model", default="smollm2-135m-instruct", help="Registered chat model.")
    generate.add_argument("--input", required=True, help="JSONL file; each line an object with a 'prompt' field "
                                                         "(and optionally 'system'), or the template's variables.")
    generate.add_argument("--template", metavar="NAME@VERSION", help="Prompt template whose variables each input line "
                                                                     "fills (NAME, NAME@3 or NAME@production).")
    generate.add_argument("--max-new-tokens", type=int, default=128)
    generate.add_argument("--temperature", type=float, default=0.0, help="0 means greedy decoding.")
    generate.add_argument("--top-p", type=float, default=1.0)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--stop", action="append", help="A string that ends an answer; repeatable.")
    generate.add_argument("--batch-size", type=int, default=32, help="Most prompts decoded together (continuous batching).")

    audit = commands.add_parser("audit", help="The audit log (admins).", description="The audit log (admins).")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", parser_class=_Parser, required=True)
    audit_list = add(audit_sub, "list", cmd_audit_list, "List audit events, newest first.")
    audit_list.add_argument("--actor")
    audit_list.add_argument("--action", help="Action or its prefix, e.g. user. or user.create")
    audit_list.add_argument("--target", help="Target type, e.g. user or model.")
    audit_list.add_argument("--limit", type=int, default=100)

    from workbench.commands import register_all

    register_all(commands, add)

    demo = commands.add_parser("demo", help="Demo content.", description="Demo content.")
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", parser_class=_Parser, required=True)
    add(demo_sub, "seed", cmd_demo_seed, "Add demo accounts (one per role) and demo content; keeps what exists.")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        return args.func(args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        log.debug("unexpected", exc_info=True)
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"error: unexpected failure ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "rerun with WORKBENCH_DEBUG=1 for the traceback.", file=sys.stderr)
        return 1


def run() -> None:
    """The `workbench` command: main(), then exit without the interpreter's final sweep over every live object."""
    code = main()
    # The process ends here. Frozen objects are out of the cyclic collector's reach, so shutdown does not walk them
    # all (~0.2 s after profiling a million rows); atexit handlers, log handlers and stdout still flush, and the
    # memory goes back to the OS either way. Not in main(): tests call it in a process that goes on.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
