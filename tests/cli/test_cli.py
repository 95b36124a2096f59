"""The `workbench` command run as a real process, as a user or a script would."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.home import init_workbench
from workbench.cli import build_parser

WORKBENCH = str(Path(sys.executable).parent / "workbench")


def run(*args, home, stdin: str | None = None, timeout: float = 120):
    env = {**os.environ, "WORKBENCH_HOME": str(home.home)}
    env.pop("WORKBENCH_DEBUG", None)
    return subprocess.run([WORKBENCH, *args], input=stdin or "", capture_output=True, text=True, env=env,
                          timeout=timeout)


def _commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


ALL_COMMANDS = list(_commands(build_parser()))


@pytest.mark.parametrize("command", [(), *ALL_COMMANDS], ids=lambda c: " ".join(c) or "workbench")
def test_every_command_answers_help(command, home):
    result = run(*command, "--help", home=home)
    assert result.returncode == 0, result.stderr
    assert "usage: workbench" in result.stdout


def test_users_add_list_and_act_as_a_user(home):
    init_workbench(home, with_models=False)
    added = run("users", "add", "maria", "--role", "data_scientist", "--json", home=home, stdin="long-password-1\n")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["role"] == "data_scientist"
    listed = json.loads(run("users", "list", "--json", home=home).stdout)
    assert [u["name"] for u in listed] == ["admin", "maria"]
    assert all("password" not in json.dumps(u) for u in listed)
    # --user acts with that user's role: a data scientist may not manage users.
    denied = run("--user", "maria", "users", "list", home=home)
    assert denied.returncode == 2
    assert denied.stderr == "error: maria (Data scientist) is not authorised to manage users. Ask an admin for a role that allows it.\n"


@pytest.mark.parametrize("args,stdin,message", [
    (("users", "add", "x1", "--role", "boss"), "long-password-1\n", "is not a role"),
    (("users", "add", "bad name", "--role", "viewer"), "long-password-1\n", "not a valid user name"),
    (("users", "add", "shorty", "--role", "viewer"), "short\n", "at least 8 characters"),
    (("users", "add", "nopass", "--role", "viewer"), "", "No password on standard input"),
    (("models", "show", "gpt-5"), None, "no model named 'gpt-5'"),
    (("--user", "ghost", "models", "list"), None, "no user named 'ghost'"),
    (("frobnicate",), None, "invalid choice"),
    (("users", "set-role", "admin", "viewer"), None, "last active admin"),
])
def test_user_errors_are_one_line_and_exit_2(home, args, stdin, message):
    init_workbench(home, with_models=False)
    result = run(*args, home=home, stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_bad_setting_is_reported_not_raised(home):
    env_home = home
    result = subprocess.run([WORKBENCH, "models", "list"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "WORKBENCH_HOME": str(env_home.home),
                                 "WORKBENCH_DATABASE_URL": "mysql://x@y/z"})
    assert result.returncode == 2 and "must be a sqlite:// or postgresql:// URL" in result.stderr


def test_models_list_and_show_give_the_local_folder(models_store, home):
    listed = json.loads(run("models", "list", "--json", home=home).stdout)
    assert {m["name"] for m in listed} == {"smollm2-135m-instruct", "minilm-l6-v2"}
    shown = json.loads(run("models", "show", "smollm2-135m-instruct", "--json", home=home).stdout)
    assert Path(shown["path"], "model.safetensors").exists()


def test_audit_list_shows_what_the_cli_changed(home):
    init_workbench(home, with_models=False)
    run("users", "add", "vic", "--role", "viewer", home=home, stdin="long-password-1\n")
    run("users", "disable", "vic", home=home)
    events = json.loads(run("audit", "list", "--json", "--target", "user", home=home).stdout)
    assert [(e["actor"], e["action"], e["target"]) for e in events[:2]] == [
        ("local-operator", "user.disable", "user:vic"), ("local-operator", "user.create", "user:vic")]
    assert (events[0]["actor_role"], events[0]["via"]) == ("admin", None)


def test_audit_list_gives_the_role_and_the_process_that_acted_for_a_user(home):
    from core.governance.users import get_user
    from core.home import open_store
    from core.jobs import queue

    init_workbench(home, with_models=False)
    run("users", "add", "dan", "--role", "data_scientist", home=home, stdin="long-password-1\n")
    store = open_store(home)
    job = queue.submit(store, actor=get_user(store, "dan").as_actor(), kind="finetune", name="cli-audit", config={})
    queue.claim(store, job.id, pid=4242, devices=None)
    queue.finish(store, job.id, "failed", error="stopped for the test")
    store.dispose()
    events = json.loads(run("audit", "list", "--json", "--action", "job.", home=home).stdout)
    assert [(e["action"], e["actor"], e["actor_role"], e["via"]) for e in events] == [
        ("job.failed", "dan", "data_scientist", f"job:{job.id}"),
        ("job.running", "dan", "data_scientist", "worker"),
        ("job.submit", "dan", "data_scientist", None)]


def test_init_and_doctor_report_as_json(home):
    report = json.loads(run("init", "--no-models", "--json", home=home).stdout)
    assert report["admin_created"] and Path(report["admin_password_file"]).exists()
    doctor = run("doctor", "--json", home=home)
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["database"]["ok"] and checks["home"]["ok"]
    assert doctor.returncode == 1  # the bundled models are not installed in this home (--no-models)


@pytest.mark.parametrize("args,message", [
    (("data", "profile", "qa", "--max-length", "3"), "The max length must be between 8 and 131,072 tokens, not 3."),
    (("generate", "--input", "x.jsonl", "--temperature", "3"), "The temperature must be between 0 and 2."),
    (("models", "add", "x", "--endpoint", "http://localhost:1/v1"), "--endpoint needs --model"),
])
def test_bad_options_are_refused_before_the_workbench_home_is_opened(args, message, home):
    """Options come from the config dataclasses and are checked first: the home is not even created."""
    result = run(*args, home=home)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {message}"), result.stderr
    assert result.stderr.count("\n") == 1 and not home.home.exists()
