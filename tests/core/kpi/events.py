"""Events for the KPI tests, logged through the real core.events.log.log_events, and the same rows as a frame."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pandas as pd

from core.events.log import log_events
from core.events.schema import EventIn

START = datetime(2026, 11, 2, tzinfo=timezone.utc)  # a Monday


def make_events(n: int = 600, *, seed: int = 7, days: int = 14, start: datetime = START,
                versions: tuple[int, ...] = (1, 2)) -> list[EventIn]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        status = rng.choices(["ok", "error", "rate_limited"], [0.9, 0.07, 0.03])[0]
        ok = status == "ok"
        guard = [{"guard": "pii", "stage": "output", "action": "redact", "span": [0, 4]}] if rng.random() < 0.05 else None
        events.append(EventIn(
            event_id=f"evt_{seed:04d}{i:020d}",
            model=rng.choice(["small", "large"]),
            input=[{"role": "user", "content": f"secret prompt {i}"}],
            output=f"secret answer {i}" if ok else None,
            time=start + timedelta(seconds=rng.uniform(0, days * 86400)),
            deployment=rng.choice(["support-bot", "support-bot", None]),
            deployment_version=rng.choice(versions),
            application=rng.choice(["web", "mobile", None]),
            user_id=rng.choice([f"u{k}" for k in range(40)] + [None]),
            latency_s=rng.lognormvariate(0, 0.5) if ok else None,
            ttft_s=rng.uniform(0.05, 0.5) if ok and rng.random() < 0.8 else None,
            tokens_in=rng.randint(5, 500) if ok else None,
            tokens_out=rng.randint(1, 300) if ok else None,
            cost=rng.uniform(0, 0.01) if ok else None,
            status=status,
            error="boom" if status == "error" else None,
            feedback_score=rng.choice([1.0, 0.0]) if ok and rng.random() < 0.3 else None,
            metadata={"segment": rng.choice(["claims", "billing", "sales"]), "region": rng.choice(["eu", "us"])},
            guard_flags=guard,
        ))
    return events


def log(store, events: list[EventIn]) -> int:
    return log_events(store, events, source="sdk")


def frame(events: list[EventIn]) -> pd.DataFrame:
    rows = []
    for e in events:
        rows.append({"time": e.time, "model": e.model, "deployment": e.deployment,
                     "deployment_version": e.deployment_version, "application": e.application,
                     "user_id": e.user_id, "latency_s": e.latency_s, "ttft_s": e.ttft_s, "tokens_in": e.tokens_in,
                     "tokens_out": e.tokens_out, "cost": e.cost, "status": e.status,
                     "feedback_score": e.feedback_score, "segment": e.metadata.get("segment"),
                     "region": e.metadata.get("region"), "flagged": bool(e.guard_flags)})
    return pd.DataFrame(rows)


def pandas_kpis(df: pd.DataFrame) -> dict:
    """The KPIs computed the plain way, for comparison."""
    n = len(df)
    fb = df["feedback_score"].dropna()
    cost = float(df["cost"].sum()) if n else 0.0
    users = int(df["user_id"].nunique())

    def q(column, p):
        values = df[column].dropna()
        return float(values.quantile(p)) if len(values) else None

    return {
        "requests": n,
        "errors": int((df["status"] == "error").sum()),
        "error_rate": float((df["status"] == "error").mean()) if n else None,
        "rate_limited": int((df["status"] == "rate_limited").sum()),
        "rate_limited_rate": float((df["status"] == "rate_limited").mean()) if n else None,
        "latency_p50_s": q("latency_s", 0.5), "latency_p95_s": q("latency_s", 0.95),
        "latency_p99_s": q("latency_s", 0.99),
        "latency_mean_s": float(df["latency_s"].mean()) if df["latency_s"].notna().any() else None,
        "ttft_p50_s": q("ttft_s", 0.5), "ttft_p95_s": q("ttft_s", 0.95),
        "tokens_in": int(df["tokens_in"].sum()), "tokens_out": int(df["tokens_out"].sum()),
        "cost": cost,
        "cost_per_1k_requests": cost / n * 1000 if n else None,
        "cost_per_user": cost / users if users else None,
        "feedback_count": len(fb),
        "thumbs_up_rate": float((fb >= 0.5).mean()) if len(fb) else None,
        "mean_score": float(fb.mean()) if len(fb) else None,
        "users": users,
        "applications": int(df["application"].nunique()),
        "guard_incident_rate": float(df["flagged"].mean()) if n else None,
    }
