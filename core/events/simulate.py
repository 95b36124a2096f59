"""The demo's traffic: 60 days of a support bot's calls through `log_events`, with a known shift from day 40.

Deployment "support-bot" serves version 1 until day 40 and version 2 from then on. From day 40 the traffic
shifts: more questions about claims (segment 'claims'), longer prompts, slower answers, more errors and fewer
thumbs up, so monitoring, feedback and KPI pages have something real to find. Answers come from a bank of real
answers the bundled model gave to these questions once (`answer_bank.json`; `generate_answer_bank` remakes it),
so the seed takes seconds. Seeded: the same day gives the same traffic.
"""
from __future__ import annotations

import json
import random
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

from sqlmodel import func, select

from core.events.log import log_events
from core.events.schema import EventIn
from core.governance.roles import Actor, Permission, require
from core.storage.db import Store
from core.storage.tables import InferenceEvent

BANK_FILE = Path(__file__).with_name("answer_bank.json")
DEPLOYMENT = "support-bot"
DAYS = 60
SHIFT_DAY = 40
SYSTEM_PROMPT = "You are a friendly support agent for Acme Insurance. Be brief and concrete; never invent policy details."

QUESTIONS = {
    "account": (
        "How do I reset my password?",
        "I can't log in to the app, it says my account is locked.",
        "How do I change the email address on my account?",
        "Can I add my partner as a second user on my account?",
        "The verification code never arrives by SMS. What can I do?",
    ),
    "billing": (
        "Why was I charged twice this month?",
        "Can I pay my premium monthly instead of yearly?",
        "How do I update my credit card details?",
        "When will my refund arrive?",
        "Can I get an invoice for my last payment?",
    ),
    "policy": (
        "How do I add a new driver to my car insurance?",
        "Does my home insurance cover water damage from a burst pipe?",
        "I moved house. How do I update my address on the policy?",
        "What is the excess on my travel insurance?",
        "Can I pause my policy while I am abroad for three months?",
    ),
    "claims": (
        "How do I file a claim for my stolen bicycle?",
        "What is the status of my claim? I submitted it two weeks ago.",
        "Which documents do I need to claim for a cancelled flight?",
        "My claim was rejected. How do I appeal the decision?",
        "How long does it take to get paid after a claim is approved?",
    ),
    "cancellation": (
        "How do I cancel my policy?",
        "Will I get money back if I cancel before the end of the year?",
        "Can I cancel my pet insurance online?",
        "What happens to my no-claims bonus if I cancel?",
        "I want to switch to another insurer. What do I need to do?",
    ),
    "documents": (
        "Where can I download my insurance certificate?",
        "I need a copy of my policy documents in English.",
        "Can you send me proof of insurance for my landlord?",
        "How do I get a letter confirming my claims history?",
        "The PDF of my policy won't open. Can you resend it?",
    ),
}
# Extra detail customers add after the shift: longer prompts.
CONTEXT = (
    "I already called your hotline twice and waited over 40 minutes each time.",
    "This is the third time I am writing about this and nobody has answered properly.",
    "My policy number is in my profile; I have been a customer for six years.",
    "I sent all the photos and receipts by email last week, including the police report.",
    "The website kept showing an error when I tried to do this myself yesterday evening.",
)
TOPIC_MIX = {
    "before": {"account": 0.22, "billing": 0.22, "policy": 0.2, "claims": 0.1, "cancellation": 0.1, "documents": 0.16},
    "after": {"account": 0.12, "billing": 0.14, "policy": 0.12, "claims": 0.38, "cancellation": 0.12, "documents": 0.12},
}
APPLICATIONS = (("helpdesk-widget", 0.55), ("mobile-app", 0.3), ("email-assistant", 0.15))
REGIONS = (("EU", 0.5), ("US", 0.35), ("APAC", 0.15))
PRODUCTS = ("home", "motor", "travel", "pet")
CAMPAIGNS = (("none", 0.7), ("renewal-2026", 0.2), ("spring-promo", 0.1))
HOURS = [0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.1, 2.0, 1.8, 1.9, 2.0, 1.9, 1.7, 1.4, 1.2, 1.0, 0.9,
         0.8, 0.6, 0.4]


def load_bank() -> dict[str, str]:
    """question -> the bundled model's answer."""
    return json.loads(BANK_FILE.read_text(encoding="utf-8"))["answers"]


def _weighted(rng: random.Random, pairs) -> str:
    names, weights = zip(*pairs)
    return rng.choices(names, weights=weights)[0]


def _tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 1.35))


def simulate_traffic(*, end: datetime, days: int = DAYS, per_day: int = 200, seed: int = 14) -> list[EventIn]:
    """The events of `days` days ending at `end` (UTC), deterministic for a given end and seed."""
    rng = random.Random(seed)
    bank = load_bank()
    model = _chat_model_name()
    start = datetime.combine((end - timedelta(days=days)).date(), time.min, tzinfo=timezone.utc)
    users = [f"cust-{i:04d}" for i in range(1, 601)]
    segments = {u: _weighted(rng, (("retail", 0.65), ("business", 0.25), ("claims", 0.10))) for u in users}
    events = []
    for day in range(days):
        shifted = day >= SHIFT_DAY
        weekday = (start + timedelta(days=day)).weekday()
        count = int(per_day * (0.6 if weekday >= 5 else 1.0) * rng.uniform(0.85, 1.15) * (1.1 if shifted else 1.0))
        mix = TOPIC_MIX["after" if shifted else "before"]
        for _ in range(count):
            at = start + timedelta(days=day, hours=rng.choices(range(24), weights=HOURS)[0],
                                   seconds=rng.uniform(0, 3600))
            if at > end:
                continue
            topic = rng.choices(list(mix), weights=list(mix.values()))[0]
            question = rng.choice(QUESTIONS[topic])
            user = rng.choice(users)
            segment = "claims" if topic == "claims" else segments[user]
            if shifted and rng.random() < 0.7:
                question = " ".join(rng.sample(CONTEXT, rng.randint(1, 3))) + " " + question
            answer = bank[_bank_key(question)]
            tokens_in = _tokens(SYSTEM_PROMPT) + _tokens(question) + 12
            tokens_out = _tokens(answer)
            slow = rng.lognormvariate(0, 0.35) * (1.6 if shifted else 1.0)
            latency = round((0.35 + 0.018 * tokens_out + 0.002 * tokens_in) * slow, 3)
            roll = rng.random()
            status = "ok"
            if roll < (0.06 if shifted else 0.015):
                status = "error"
            elif roll < (0.07 if shifted else 0.02):
                status = "rate_limited"
            up_rate = (0.58 if shifted else 0.82) - (0.12 if topic == "claims" else 0.0)
            feedback = None
            if status == "ok" and rng.random() < 0.3:
                feedback = 1.0 if rng.random() < up_rate else 0.0
            version = 2 if shifted else 1
            events.append(EventIn(
                model=model, time=at, event_id="evt_%024x" % rng.getrandbits(96),
                response_id="chatcmpl-%024x" % rng.getrandbits(96), deployment=DEPLOYMENT,
                deployment_version=version, arm="primary", template_version=f"ticket-reply@{version}",
                application=_weighted(rng, APPLICATIONS), user_id=user,
                input=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}],
                output=answer if status == "ok" else None,
                finish_reason="stop" if status == "ok" else None,
                latency_s=latency if status != "rate_limited" else 0.01,
                ttft_s=round(min(latency, rng.uniform(0.08, 0.25) * (1.5 if shifted else 1.0)), 3),
                tokens_in=tokens_in, tokens_out=tokens_out if status == "ok" else 0,
                status=status,
                error=("The model did not answer within 30 seconds." if status == "error" else
                       "Rate limit of 60 requests per minute reached." if status == "rate_limited" else None),
                feedback_score=feedback,
                metadata={"segment": segment, "region": _weighted(rng, REGIONS), "product": rng.choice(PRODUCTS),
                          "campaign": _weighted(rng, CAMPAIGNS), "topic": topic},
            ))
    events.sort(key=lambda e: e.time)
    return events


def _bank_key(question: str) -> str:
    """The bank's question inside a prompt that may start with extra context."""
    for topic_questions in QUESTIONS.values():
        for known in topic_questions:
            if question.endswith(known):
                return known
    return question


def _chat_model_name() -> str:
    from core.models import bundled

    return bundled.CHAT_MODEL.name


def seed_traffic(store: Store, *, actor: Actor, now: datetime | None = None) -> int:
    """The demo seed's traffic, through the same call applications use; nothing when demo events exist already."""
    require(actor, Permission.SEED_DEMO)
    with store.read() as session:
        if session.exec(select(func.count()).select_from(InferenceEvent)
                        .where(InferenceEvent.source == "demo")).one():
            return 0
    events = simulate_traffic(end=now or datetime.now(timezone.utc))
    return log_events(store, events, source="demo")


def generate_answer_bank(store: Store, *, actor: Actor, path: Path = BANK_FILE) -> dict[str, str]:
    """Asks the bundled chat model every question once (greedy) and saves the answers; run by hand, not by the seed."""
    from core.inference import engines
    from core.inference.generate import GenerationSettings

    questions = [q for qs in QUESTIONS.values() for q in qs]
    conversations = [[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": q}]
                     for q in questions]
    answers = engines.complete_chats(store, actor=actor, model=_chat_model_name(), conversations=conversations,
                                     settings=GenerationSettings(max_new_tokens=96))
    bank = {q: a.output.strip() for q, a in zip(questions, answers)}
    path.write_text(json.dumps({"model": _chat_model_name(), "system": SYSTEM_PROMPT,
                                "settings": {"max_new_tokens": 96, "temperature": 0.0}, "answers": bank},
                               indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return bank
