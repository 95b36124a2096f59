"""The demo's human feedback: two annotation projects rated by ann and two more demo annotators, through the same
core calls as the rating screen, so the leaderboard, agreement and exports show real numbers; a few items stay in
ann's queue for a first look at the rating screen.

- "demo-reply-duel": the demo comparison's two prompt versions side by side (pairwise, every annotator).
- "demo-support-traffic": a sample of the support-bot traffic, stratified by deployment version, on helpfulness
  (Likert) and correctness (thumbs), two annotators per item.

The simulated annotators are seeded: each prefers the answer a real reader would (the second prompt version's
shorter, persona-led replies; answers that are neither empty nor cut off) with its own noise, and one of them is
careless, so the per-annotator view has something to show.
"""
from __future__ import annotations

import random
import secrets

from core.feedback import projects, ratings, sources
from core.feedback.schema import parse_question
from core.governance import users
from core.governance.roles import Actor, Permission, Role, require
from core.storage.db import Store

DUEL = "demo-reply-duel"
TRAFFIC = "demo-support-traffic"
ANNOTATORS = ("ann", "bea", "carl")
NEW_ANNOTATORS = (("bea", "bea@example.com"), ("carl", "carl@example.com"))
LEFT_FOR_ANN = 3
CARELESS = "carl"
GUIDELINES = """\
**Rate the reply a customer would rather get.**

- *Helpful*: it answers the ticket's actual question and says what happens next.
- *Correct*: nothing invented (order numbers, dates, policies the ticket does not mention).
- Shorter is better when it is equally helpful. Ignore small typos.
"""


def seed_feedback(store: Store, *, actor: Actor) -> list[str]:
    """Makes the demo projects that are missing (and their ratings); returns the names made."""
    require(actor, Permission.SEED_DEMO)
    _ensure_annotators(store, actor)
    existing = {p.name for p in projects.list_projects(store, actor=actor)}
    made = []
    if DUEL not in existing and (run_id := _demo_comparison(store, actor)) is not None:
        projects.create_project(
            store, actor=actor, name=DUEL, source=sources.ComparisonSource(run_id=run_id, pairs=True),
            questions=[parse_question("better:pairwise"), parse_question("issues:tags=made_up_facts,too_long,rude")],
            annotators=list(ANNOTATORS), per_item=3, guidelines=GUIDELINES,
            description="First draft vs. persona and length limit, blind.")
        _rate_duel(store, seed=1)
        made.append(DUEL)
    if TRAFFIC not in existing and _has_traffic(store):
        projects.create_project(
            store, actor=actor, name=TRAFFIC,
            source=sources.EventSource(limit=36, stratify="deployment_version", seed=7),
            questions=[parse_question("helpfulness:likert"), parse_question("correct:thumbs"),
                       parse_question("ideal:text")],
            annotators=list(ANNOTATORS), per_item=2, guidelines=GUIDELINES,
            description="A sample of support-bot answers from production, both versions.")
        _rate_traffic(store, seed=2)
        made.append(TRAFFIC)
    return made


def _ensure_annotators(store: Store, actor: Actor) -> None:
    from sqlmodel import select

    from core.home import write_secret
    from core.storage.tables import User

    lines = []
    for name, email in NEW_ANNOTATORS:
        with store.read() as session:
            if session.exec(select(User.id).where(User.name == name)).first() is not None:
                continue
        password = secrets.token_urlsafe(9)
        users.create_user(store, actor=actor, name=name, role=Role.ANNOTATOR, password=password, email=email)
        lines.append(f"{name}\t{Role.ANNOTATOR.value}\t{password}")
    if lines:
        from core.demo import DEMO_LOGINS_FILE

        path = store.settings.home / DEMO_LOGINS_FILE
        previous = path.read_text() if path.exists() else "user\trole\tpassword\n"
        write_secret(path, previous + "".join(line + "\n" for line in lines))


def _demo_comparison(store: Store, actor: Actor) -> int | None:
    from core.compare import runs
    from core.compare.demo import DEMO_NAME

    for run in runs.list_runs(store, actor=actor):
        if run.name == DEMO_NAME and run.status == "succeeded" and len(run.columns) >= 2 and run.cell_count:
            return run.id
    return None


def _has_traffic(store: Store) -> bool:
    try:
        from sqlmodel import func, select

        from core.storage.tables import InferenceEvent
    except ImportError:
        return False
    with store.read() as session:
        return bool(session.exec(select(func.count()).select_from(InferenceEvent)
                                 .where(InferenceEvent.output.is_not(None))).one())


def _annotator(name: str) -> Actor:
    return Actor(name=name, role=Role.ANNOTATOR)


def _quality(text: str, prompt_version: str | None) -> float:
    """What the simulated readers like: a non-empty, finished, not rambling answer; the second prompt version."""
    words = len(text.split())
    score = 0.0 if words < 3 else 1.0
    score += 0.6 if (prompt_version or "").endswith("@2") else 0.0
    score -= 0.5 if words > 80 else 0.0
    score -= 0.4 if text.rstrip() and text.rstrip()[-1] not in ".!?" else 0.0
    return score


def _rate_duel(store: Store, *, seed: int) -> None:
    rng = random.Random(seed)
    for name in ANNOTATORS:
        who = _annotator(name)
        queue = ratings.queue(store, actor=who, project=DUEL)
        keep = queue[:-1] if name == "ann" else queue  # one pairwise item left for ann
        for item in keep:
            responses = _responses(store, item.item_id)
            shown = [responses[i] for i in item.order]
            gap = _quality(shown[0]["text"], shown[0].get("prompt_version")) - \
                _quality(shown[1]["text"], shown[1].get("prompt_version"))
            noise = 1.2 if name == CARELESS else 0.35
            judged = gap + rng.gauss(0, noise)
            value = "tie" if abs(judged) < 0.15 else "A" if judged > 0 else "B"
            tags = ["too_long"] if any(len(r["text"].split()) > 80 for r in shown) and rng.random() < 0.5 else []
            ratings.submit(store, actor=who, project=DUEL, item_id=item.item_id,
                           answers={"better": value, "issues": tags}, seconds=round(rng.uniform(6, 25), 1))


def _rate_traffic(store: Store, *, seed: int) -> None:
    rng = random.Random(seed)
    for name in ANNOTATORS:
        who = _annotator(name)
        queue = ratings.queue(store, actor=who, project=TRAFFIC)
        keep = queue[:-LEFT_FOR_ANN] if name == "ann" else queue
        for item in keep:
            response = _responses(store, item.item_id)[0]
            quality = _quality(response["text"], response.get("prompt_version"))
            noise = 1.3 if name == CARELESS else 0.5
            score = int(min(5, max(1, round(2.4 + 1.3 * quality + rng.gauss(0, noise)))))
            correct = "up" if quality + rng.gauss(0, noise) > 0.8 else "down"
            answers = {"helpfulness": score, "correct": correct}
            if score <= 2 and name == "bea" and rng.random() < 0.5:
                answers["ideal"] = ("Sorry about the trouble! I've checked your ticket and will follow up by email "
                                    "within one business day with the next step.")
            ratings.submit(store, actor=who, project=TRAFFIC, item_id=item.item_id, answers=answers,
                           seconds=round(rng.uniform(8, 40) * (0.4 if name == CARELESS else 1.0), 1))


def _responses(store: Store, item_id: int) -> list[dict]:
    from core.storage.tables import AnnotationItem

    with store.read() as session:
        return list(session.get(AnnotationItem, item_id).responses)
