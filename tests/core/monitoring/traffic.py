"""Small synthetic traffic for the monitoring tests: support questions whose mix, length, latency and thumbs-up
change from a given day on (the same kind of shift as the demo)."""
from datetime import datetime, timedelta, timezone

import numpy as np

from core.events.log import log_events
from core.events.schema import EventIn

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def log_traffic(store, *, days: int = 8, per_day: int = 120, shift_day: int = 5, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    events = []
    for day in range(days):
        shifted = day >= shift_day
        for _ in range(per_day):
            topic = str(rng.choice(["billing", "claims", "login"], p=[0.3, 0.55, 0.15] if shifted else [0.5, 0.2, 0.3]))
            words = int(rng.integers(20, 60) if shifted else rng.integers(5, 25))
            prompt = f"I have a {topic} question: " + " ".join(rng.choice(WORDS[topic], words))
            events.append(EventIn(
                model="smollm2-135m-instruct", deployment="support-bot",
                time=START + timedelta(days=day, seconds=int(rng.integers(0, 86_000))),
                input=[{"role": "user", "content": prompt}], output=f"Here is how to handle your {topic} case.",
                latency_s=float(rng.gamma(2.0, 0.8 if shifted else 0.5)),
                feedback_score=float(rng.random() < (0.5 if shifted else 0.75)), metadata={"topic": topic}))
    log_events(store, events, source="demo")


WORDS = {
    "billing": ["invoice", "charge", "refund", "card", "payment", "twice", "month", "plan"],
    "claims": ["claim", "accident", "damage", "insurance", "form", "repair", "police", "report"],
    "login": ["password", "reset", "account", "locked", "email", "code", "app", "sign"],
}
