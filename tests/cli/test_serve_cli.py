"""`workbench keys ...`, `workbench deploy` and `workbench deployments ...` as real processes, --json shapes."""
import json

from core.models import bundled
from tests.cli.test_cli import run

CHAT = bundled.DEFAULT_CHAT_MODEL


def test_keys_are_printed_once_listed_without_the_key_and_revoked(home):
    added = run("keys", "add", "helpdesk", "--scopes", "chat,feedback", "--models", "support-bot",
                "--rate-limit", "60/min", "--json", home=home)
    assert added.returncode == 0, added.stderr
    made = json.loads(added.stdout)
    assert set(made) >= {"name", "key"} and made["name"] == "helpdesk" and made["key"].startswith("wb-")
    listed = run("keys", "list", "--json", home=home)
    assert made["key"] not in listed.stdout
    [key] = json.loads(listed.stdout)
    assert (key["scopes"], key["models"], key["rate_limit_per_min"], key["active"]) == \
        (["chat", "feedback"], ["support-bot"], 60, True)
    assert run("keys", "revoke", "helpdesk", home=home).returncode == 0
    assert json.loads(run("keys", "list", "--json", home=home).stdout)[0]["active"] is False
    again = run("keys", "revoke", "helpdesk", home=home)
    assert again.returncode == 2 and again.stderr.startswith("error: ") and len(again.stderr.splitlines()) == 1
    bad = run("keys", "add", "x", "--scopes", "everything", home=home)
    assert bad.returncode == 2 and "not a key scope" in bad.stderr


def test_deploy_promote_rollback_and_show(models_store, home):
    first = run("deploy", "support-bot", "--model", CHAT, "--max-tokens", "64", "--json", home=home)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["version"] == 1
    second = json.loads(run("deploy", "support-bot", "--model", CHAT, "--temperature", "0.2", "--json",
                            home=home).stdout)
    assert (second["version"], second["defaults"], second["promoted_at"]) == (2, {"temperature": 0.2}, None)
    assert json.loads(run("deployments", "promote", "support-bot", "--json", home=home).stdout)["current_version"] == 2
    split = json.loads(run("deployments", "traffic", "support-bot", "--version", "1", "--weight", "0.5", "--json",
                           home=home).stdout)
    assert (split["candidate_version"], split["candidate_weight"]) == (1, 0.5)
    assert json.loads(run("deployments", "rollback", "support-bot", "--json", home=home).stdout)["current_version"] == 1
    shown = json.loads(run("deployments", "show", "support-bot", "--json", home=home).stdout)
    assert [v["version"] for v in shown["versions"]] == [1, 2] and shown["lineage"]["model"] == CHAT
    assert shown["traffic"] == []
    listed = run("deployments", "list", home=home)
    assert "support-bot" in listed.stdout and "v1" in listed.stdout
    missing = run("deploy", "x", "--model", "no-such-model", home=home)
    assert missing.returncode == 2 and "no model named 'no-such-model'" in missing.stderr
