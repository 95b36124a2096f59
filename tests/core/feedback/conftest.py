"""A pairwise and a Likert project over a tiny dataset version, with one data scientist and three annotators."""
import pandas as pd
import pytest

from core.data import versions
from core.feedback import projects, sources
from core.feedback.schema import parse_question
from core.governance import users
from core.governance.roles import SYSTEM, Role

PASSWORD = "correct-horse-42"


def make_people(store, annotators=("ann", "bob", "cat")):
    made = {"dan": users.create_user(store, actor=SYSTEM, name="dan", role=Role.DATA_SCIENTIST, password=PASSWORD),
            "vic": users.create_user(store, actor=SYSTEM, name="vic", role=Role.VIEWER, password=PASSWORD)}
    for name in annotators:
        made[name] = users.create_user(store, actor=SYSTEM, name=name, role=Role.ANNOTATOR, password=PASSWORD)
    return {name: user.as_actor() for name, user in made.items()}


def pairs_dataset(store, rows: int = 6):
    frame = pd.DataFrame({"question": [f"Question {n}?" for n in range(rows)],
                          "good": [f"A careful answer {n}." for n in range(rows)],
                          "bad": [f"=HYPERLINK(\"x\") meh {n}" for n in range(rows)]})
    version, _ = versions.save_version(store, actor=SYSTEM, name="answers", frame=frame, transformation="import",
                                       source="answers.csv")
    return version


def pairwise_project(store, dan, *, name="duel", per_item=2, annotators=("role:annotator",), extra=()):
    pairs_dataset(store)
    return projects.create_project(
        store, actor=dan, name=name,
        source=sources.DatasetSource(ref="answers", prompt_column="question", response_columns=("good", "bad")),
        questions=[parse_question("better:pairwise"), *[parse_question(q) for q in extra]],
        annotators=list(annotators), per_item=per_item, guidelines="Prefer the **careful** answer.")


def likert_project(store, dan, *, name="scores", per_item=3, annotators=("role:annotator",)):
    frame = pd.DataFrame({"question": ["Q0", "Q0", "Q1", "Q1"], "answer": ["good", "poor", "fine", "bad"],
                          "model": ["m1", "m2", "m1", "m2"]})
    versions.save_version(store, actor=SYSTEM, name="single", frame=frame, transformation="import", source="s.csv")
    return projects.create_project(
        store, actor=dan, name=name,
        source=sources.DatasetSource(ref="single", prompt_column="question", response_columns=("answer",),
                                     model_column="model"),
        questions=[parse_question("helpfulness:likert"), parse_question("ok:thumbs"), parse_question("fix:text")],
        annotators=list(annotators), per_item=per_item)


@pytest.fixture
def team(store):
    return make_people(store)
