"""Annotation at scale: the server time of a submitted rating and of the next item with 100k ratings stored, and
agreement + Bradley-Terry with 1,000 bootstrap rounds over those 100k ratings.

Set-up (not timed): a SQLite workbench home in a temporary folder, 10 annotators, a pairwise project over a
dataset version of N items with every item for every annotator, and the stored ratings bulk-inserted (the same
rows the rating call writes, without an audit row each, to keep set-up short). The annotator `ann` keeps
`--pending` items to rate.

Timed:
- core: `ratings.submit` (one answer, its upsert, audit row and queue status, in one BEGIN IMMEDIATE transaction)
  and `ratings.next_item`, each `--submits` times, median and 90th percentile;
- the real page under Streamlit's AppTest: a key-press's button click on the Annotate page that submits the rating
  and renders the next item (the whole script run, server side), median;
- `results.project_stats` with 1,000 bootstrap rounds (loading the ratings, Krippendorff's alpha, Cohen's kappa
  where it applies, per-annotator figures, bootstrap scores, Bradley-Terry with intervals and Elo), median of 3,
  and `results.stats_key`, all a Feedback page rerun reads when no rating changed (it then reuses the figures).

The load average is printed before and after: on a shared machine every figure moves with it.

Goals (issue 16): under 100 ms per rating and per next item on a 2-core machine; under 5 s for the statistics.
Prints figures; asserts nothing about time.

    .venv/bin/python bench/annotate.py                # 10,000 items x 10 annotators = 100k ratings
    .venv/bin/python bench/annotate.py --items 1000   # a quick look
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

PASSWORD = "bench-password-42"
ANNOTATORS = ["ann"] + [f"rater{n}" for n in range(1, 10)]


def _median_p90(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def setup(home: Path, items: int, pending: int):
    os.environ["WORKBENCH_HOME"] = str(home)
    os.environ.pop("WORKBENCH_DATABASE_URL", None)
    import random

    import pandas as pd
    from sqlalchemy import insert
    from sqlmodel import select

    from core.data import versions
    from core.feedback import projects, sources
    from core.feedback.schema import parse_question
    from core.governance import users
    from core.governance.roles import SYSTEM, Role
    from core.home import open_store
    from core.storage.tables import AnnotationAssignment, AnnotationItem, Rating, User, utcnow

    store = open_store()
    users.create_user(store, actor=SYSTEM, name="ann", role=Role.ANNOTATOR, password=PASSWORD)
    with store.write() as session:
        for name in ANNOTATORS[1:]:
            session.add(User(name=name, role=Role.ANNOTATOR.value, auth_provider="oidc"))
    rng = random.Random(0)
    frame = pd.DataFrame({"prompt": [f"Customer question number {n}: where is my parcel {n}?" for n in range(items)],
                          "model_a": [f"Your parcel {n} left our warehouse today. " * 3 for n in range(items)],
                          "model_b": [f"Parcel {n} is on its way." for n in range(items)]})
    versions.save_version(store, actor=SYSTEM, name="bench-pairs", frame=frame, transformation="import",
                          source="bench")
    started = time.perf_counter()
    projects.create_project(store, actor=SYSTEM, name="bench", source=sources.DatasetSource(
        ref="bench-pairs", prompt_column="prompt", response_columns=("model_a", "model_b")),
        questions=[parse_question("better:pairwise")], annotators=ANNOTATORS, per_item=len(ANNOTATORS))
    made = time.perf_counter() - started
    with store.write() as session:
        ids = dict(session.exec(select(AnnotationItem.position, AnnotationItem.id)).all())
        project_id = session.exec(select(AnnotationItem.project_id)).first()
        now = utcnow()
        rows = []
        for position, item_id in ids.items():
            for name in ANNOTATORS:
                if name == "ann" and position >= items - pending:
                    continue
                value = "A" if rng.random() < 0.62 else "B" if rng.random() < 0.85 else "tie"
                rows.append({"project_id": project_id, "item_id": item_id, "annotator": name, "question": "better",
                             "value": value, "revision": 1, "created_at": now, "updated_at": now})
        session.execute(insert(Rating), rows)
        session.execute(AnnotationAssignment.__table__.update()
                        .where(AnnotationAssignment.annotator != "ann").values(status="done", done_at=now,
                                                                                   seconds=12.0))
        session.execute(AnnotationAssignment.__table__.update()
                        .where(AnnotationAssignment.annotator == "ann",
                               AnnotationAssignment.position < items - pending)
                        .values(status="done", done_at=now, seconds=9.0))
    return store, made, len(rows)


def time_core(store, submits: int) -> dict[str, tuple[float, float]]:
    from core.feedback import ratings
    from core.governance.roles import Actor, Role

    ann = Actor(name="ann", role=Role.ANNOTATOR)
    submit_s, next_s = [], []
    after = None
    for n in range(submits):
        started = time.perf_counter()
        item = ratings.next_item(store, actor=ann, project="bench", after=after)
        next_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        ratings.submit(store, actor=ann, project="bench", item_id=item.item_id,
                       answers={"better": "A" if n % 3 else "B"}, seconds=5)
        submit_s.append(time.perf_counter() - started)
        after = item.position
    return {"submit": _median_p90(submit_s), "next_item": _median_p90(next_s)}


def time_page(store, submits: int) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    from core.governance import logins
    from workbench.navigation import PAGES

    app = AppTest.from_file(str(PAGES[0].path.parent / "annotate.py"), default_timeout=120)
    app.session_state["auth.token"] = logins.log_in(store, name="ann", password=PASSWORD).token
    app.run()
    times = []
    for _ in range(submits):
        button = next(b for b in app.button if b.label == "A is better")
        started = time.perf_counter()
        button.click().run()
        times.append(time.perf_counter() - started)
        if app.exception:
            raise RuntimeError(app.exception[0].message)
    return _median_p90(times)


def time_stats(store, rounds: int, repeats: int = 3) -> tuple[float, float, dict]:
    """The statistics (median of `repeats`), and the change key the Feedback page reads on a rerun that finds
    nothing new (it then reuses the figures)."""
    from core.feedback import results
    from core.governance.roles import SYSTEM

    took, keys = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        stats = results.project_stats(store, actor=SYSTEM, project="bench", rounds=rounds)
        took.append(time.perf_counter() - started)
        started = time.perf_counter()
        results.stats_key(store, actor=SYSTEM, project="bench")
        keys.append(time.perf_counter() - started)
    agreement = stats.agreement["better"]
    return statistics.median(took), statistics.median(keys), {
        "ratings": stats.ratings, "alpha": agreement.krippendorff_alpha,
        "leaderboard": [(s.model, round(s.score), round(s.low), round(s.high)) for s in stats.leaderboard]}


def _load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000, help="Items; each is rated by 10 annotators.")
    parser.add_argument("--pending", type=int, default=200, help="Items left in ann's queue.")
    parser.add_argument("--submits", type=int, default=60, help="Timed submissions (core and page each).")
    parser.add_argument("--rounds", type=int, default=1000, help="Bootstrap rounds for the statistics.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-annotate-") as folder:
        started = time.perf_counter()
        store, made, stored = setup(Path(folder) / "home", args.items, args.pending)
        print(_load())
        print(f"set-up: {stored:,} ratings stored, project of {args.items:,} items x {len(ANNOTATORS)} annotators "
              f"made in {made:.1f} s (whole set-up {time.perf_counter() - started:.1f} s)")
        core = time_core(store, args.submits)
        print(f"core  submit one rating : median {core['submit'][0] * 1000:6.1f} ms  p90 {core['submit'][1] * 1000:6.1f} ms")
        print(f"core  next item         : median {core['next_item'][0] * 1000:6.1f} ms  p90 "
              f"{core['next_item'][1] * 1000:6.1f} ms")
        page = time_page(store, args.submits)
        print(f"page  key press -> rated + next item rendered (AppTest, whole script run): median "
              f"{page[0] * 1000:6.1f} ms  p90 {page[1] * 1000:6.1f} ms")
        took, key, figures = time_stats(store, args.rounds)
        print(f"stats {figures['ratings']:,} ratings, {args.rounds} bootstrap rounds: {took:.2f} s, median of 3 "
              f"(alpha {figures['alpha']:.3f}; leaderboard {figures['leaderboard']}); the page's change key on a "
              f"rerun with nothing new: {key * 1000:.1f} ms")
        print(_load())
        store.dispose()


if __name__ == "__main__":
    main()
