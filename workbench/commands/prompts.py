"""`workbench prompts ...`: prompt templates, their versions, labels and diffs."""
from __future__ import annotations

import sys
from pathlib import Path

from core.errors import InvalidInput
from workbench.commands.context import add_group


def _read_text(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"The {what} file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"The {what} file {path} is not UTF-8 text.") from None
    except OSError as exc:
        raise InvalidInput(f"The {what} file {path} cannot be read ({exc.strerror}).") from None


def cmd_save(ctx) -> int:
    from core.prompts import templates

    args = ctx.args
    body = args.body if args.body is not None else _read_text(args.file, "template")
    if body is None:
        raise InvalidInput("Give the template's text with --body TEXT or --file FILE (- for standard input).")
    system = args.system if args.system is not None else _read_text(args.system_file, "system prompt")
    version, created = templates.save_version(ctx.store, actor=ctx.actor, name=args.name, body=body, system=system,
                                              note=args.note, description=args.description)
    if args.label:
        version = templates.set_label(ctx.store, actor=ctx.actor, ref=version.ref, label=args.label)
    return ctx.show({**version.to_dict(), "created": created},
                    f"{'Saved' if created else 'Unchanged, still'} {version.ref}; variables: "
                    f"{', '.join(version.variables) or 'none'}"
                    + (f"; labels: {', '.join(version.labels)}" if version.labels else ""))


def cmd_list(ctx) -> int:
    from core.prompts import templates

    found = templates.list_templates(ctx.store, actor=ctx.actor)
    return ctx.table([t.to_dict() for t in found],
                     [{"name": t.name, "versions": t.versions, "latest": t.latest,
                       "labels": ", ".join(f"{k}=@{v}" for k, v in t.labels.items()), "by": t.created_by}
                      for t in found],
                     empty="No prompt template yet; save one with `workbench prompts save NAME --body TEXT`.")


def cmd_show(ctx) -> int:
    from core.prompts import templates

    version = templates.get_version(ctx.store, actor=ctx.actor, ref=ctx.args.ref)

    def text() -> None:
        print(f"{version.ref}  by {version.created_by} at {version.created_at:%Y-%m-%d %H:%M}"
              + (f"  labels: {', '.join(version.labels)}" if version.labels else ""))
        if version.system:
            print(f"--- system ---\n{version.system}")
        print(f"--- user ---\n{version.body}")

    return ctx.show(version.to_dict(), text)


def cmd_versions(ctx) -> int:
    from core.prompts import templates

    found = templates.list_versions(ctx.store, actor=ctx.actor, name=ctx.args.name)
    return ctx.table([v.to_dict() for v in found],
                     [{"version": v.ref, "labels": ", ".join(v.labels), "variables": ", ".join(v.variables),
                       "by": v.created_by, "at": f"{v.created_at:%Y-%m-%d %H:%M}", "note": v.note or ""}
                      for v in found])


def cmd_diff(ctx) -> int:
    from core.prompts import templates

    diff = templates.diff_versions(ctx.store, actor=ctx.actor, old=ctx.args.old, new=ctx.args.new)
    return ctx.show(diff.to_dict(),
                    "\n".join(diff.lines) if diff.changed else f"{diff.old.ref} and {diff.new.ref} are identical.")


def cmd_label(ctx) -> int:
    from core.prompts import templates

    args = ctx.args
    if args.remove:
        name = args.ref.partition("@")[0]
        templates.remove_label(ctx.store, actor=ctx.actor, name=name, label=args.label)
        return ctx.show({"template": name, "label": args.label, "removed": True},
                        f"Removed label {args.label} from {name}.")
    version = templates.set_label(ctx.store, actor=ctx.actor, ref=args.ref, label=args.label)
    return ctx.show({**version.to_dict(), "label": args.label},
                    f"{version.template}@{args.label.strip().lower()} now points to {version.ref}.")


def cmd_render(ctx) -> int:
    from core.prompts import templates

    version = templates.get_version(ctx.store, actor=ctx.actor, ref=ctx.args.ref)
    variables = {}
    for item in ctx.args.var or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"'{item}' is not a variable assignment; write --var NAME=VALUE.")
        variables[key.strip()] = value
    messages = version.messages(variables)

    def text() -> None:
        for message in messages:
            print(f"--- {message['role']} ---\n{message['content']}")

    return ctx.show(messages, text)


def register(commands, add) -> None:
    sub = add_group(commands, "prompts", "Prompt templates: versions, labels, diffs.")
    save = add(sub, "save", cmd_save, "Save a new version of a template (creating it); unchanged text makes none.")
    save.add_argument("name")
    save.add_argument("--body", help="The user message, a Jinja2 template with {{ variables }}.")
    save.add_argument("--file", help="Read the user message from this file (- for standard input).")
    save.add_argument("--system", help="An optional system prompt (also a template).")
    save.add_argument("--system-file", help="Read the system prompt from this file.")
    save.add_argument("--note", help="What changed in this version.")
    save.add_argument("--description", help="What the template is for (when creating it).")
    save.add_argument("--label", help="Also point this label (e.g. production) at the new version.")
    add(sub, "list", cmd_list, "List templates with their latest version and labels.")
    show = add(sub, "show", cmd_show, "Show one version.")
    show.add_argument("ref", metavar="NAME[@VERSION|@LABEL]")
    versions = add(sub, "versions", cmd_versions, "List a template's versions, newest first.")
    versions.add_argument("name")
    diff = add(sub, "diff", cmd_diff, "Line diff between two versions.")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    label = add(sub, "label", cmd_label, "Point a label (e.g. production) at a version, or remove it.")
    label.add_argument("ref", metavar="NAME@VERSION")
    label.add_argument("label")
    label.add_argument("--remove", action="store_true", help="Remove the label instead.")
    render = add(sub, "render", cmd_render, "Show the chat messages a version makes for given variables.")
    render.add_argument("ref", metavar="NAME[@VERSION|@LABEL]")
    render.add_argument("--var", action="append", metavar="NAME=VALUE", help="A variable's value; repeatable.")
