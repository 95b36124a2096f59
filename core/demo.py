"""Demo content for a first look: one account per role and two datasets, so each view can be tried at once."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from core.governance import users
from core.governance.roles import Actor, Permission, Role, require
from core.home import write_secret
from core.storage.db import Store
from core.storage.tables import User

DEMO_LOGINS_FILE = "demo_logins.txt"
DEMO_USERS = (
    ("dana", Role.DATA_SCIENTIST, "dana@example.com"),
    ("ann", Role.ANNOTATOR, "ann@example.com"),
    ("victor", Role.VIEWER, "victor@example.com"),
)


DEMO_DATASETS = ("support-tickets", "support-chat-sft")


# Two templates with two versions each: the second version of each is the one a team would iterate to.
DEMO_TEMPLATES = (
    ("ticket-summary", "Summarise a support ticket in one sentence for the queue view.", (
        (None, "Summarise this support ticket in one sentence.\n\nSubject: {{ subject }}\n{{ body }}",
         "First draft."),
        ("You are a support lead. You write short, factual summaries without greetings.",
         "Summarise the customer's problem in one sentence of at most 20 words.\n\n"
         "Subject: {{ subject }}\nTicket: {{ body }}",
         "System prompt, length limit."),
    )),
    ("ticket-reply", "Draft a first reply to a support ticket.", (
        (None, "Write a reply to this customer.\n\n{{ body }}", "First draft."),
        ("You are a friendly support agent for {{ product }}. Be brief and concrete; never invent order details.",
         "Write a short first reply (at most three sentences) to this {{ priority }}-priority ticket.\n\n"
         "Subject: {{ subject }}\n{{ body }}",
         "Product persona, priority, length limit."),
    )),
)


@dataclass(frozen=True)
class DemoReport:
    users_created: list[str]
    logins_file: str
    datasets_created: list[str] = ()
    templates_created: list[str] = ()


def is_seeded(store: Store) -> bool:
    return (store.settings.home / DEMO_LOGINS_FILE).exists()


def seed_demo(store: Store, *, actor: Actor) -> DemoReport:
    """Adds what is missing; never changes what a user made. Passwords are random and kept in a 0600 file."""
    require(actor, Permission.SEED_DEMO)
    created, lines = [], []
    from sqlmodel import select

    for name, role, email in DEMO_USERS:
        with store.read() as session:
            exists = session.exec(select(User.id).where(User.name == name)).first() is not None
        if exists:
            continue
        password = secrets.token_urlsafe(9)
        users.create_user(store, actor=actor, name=name, role=role, password=password, email=email)
        created.append(name)
        lines.append(f"{name}\t{role.value}\t{password}")
    path = store.settings.home / DEMO_LOGINS_FILE
    previous = path.read_text() if path.exists() else "user\trole\tpassword\n"
    write_secret(path, previous + "".join(line + "\n" for line in lines))
    datasets = seed_datasets(store, actor=actor)
    templates = seed_templates(store, actor=actor)
    from core.compare.demo import seed_comparison
    from core.pipelines.demo import seed_pipeline

    seed_comparison(store, actor=actor)
    seed_pipeline(store, actor=actor)  # real outputs of the bundled model, so the Compare page opens on a run
    from core.serving.demo import seed_deployment

    seed_deployment(store, actor=actor)  # "support-bot" v1 and v2, before the traffic that names them
    from core.events.simulate import seed_traffic

    seed_traffic(store, actor=actor)  # 60 days of support-bot traffic through log_events, shifting on day 40
    from core.monitoring.demo import seed_monitor

    seed_monitor(store, actor=actor)  # after the traffic: a monitor finding the day-40 shift, and its open alert
    from core.feedback.demo import seed_feedback

    seed_feedback(store, actor=actor)  # after the comparison and traffic: two rated annotation projects, ann's queue
    from core.kpi.demo import seed_kpi_targets

    seed_kpi_targets(store, actor=actor)  # after the traffic: KPI targets, one failing since day 40 (with its alert)
    from core.evaluation.demo import seed_evaluation

    seed_evaluation(store, actor=actor)  # last: a suite over demo tickets, a judged run, a gate result, a guarded bot
    return DemoReport(users_created=created, logins_file=str(path), datasets_created=datasets,
                      templates_created=templates)


def seed_templates(store: Store, *, actor: Actor) -> list[str]:
    """The demo prompt templates, each with two versions; the second is labelled `production`."""
    from core.prompts import templates

    existing = {t.name for t in templates.list_templates(store, actor=actor)}
    made = []
    for name, description, versions in DEMO_TEMPLATES:
        if name in existing:
            continue
        for system, body, note in versions:
            latest, _ = templates.save_version(store, actor=actor, name=name, body=body, system=system, note=note,
                                               description=description)
        templates.set_label(store, actor=actor, ref=latest.ref, label="production")
        made.append(name)
    return made


def seed_datasets(store: Store, *, actor: Actor) -> list[str]:
    """Imports the demo datasets through the same path as a user's upload (a CSV and a JSONL file)."""
    import tempfile
    from pathlib import Path

    from core.data import demo_data, ingest, versions
    from core.data.export import write_frame

    existing = {d.name for d in versions.list_datasets(store, actor=actor)}
    made = []
    with tempfile.TemporaryDirectory() as folder:
        for name, frame, fmt, description in (
            ("support-tickets", demo_data.support_tickets(), "csv",
             "Customer support tickets exported from the helpdesk (June 2026)."),
            ("support-chat-sft", demo_data.chat_finetune_set(), "jsonl",
             "Chat fine-tuning set distilled from resolved tickets."),
        ):
            if name in existing:
                continue
            file = Path(folder) / f"{name}.{fmt}"
            write_frame(frame, fmt, file)
            ingest.import_file(store, actor=actor, path=file, name=name, description=description)
            made.append(name)
    return made
