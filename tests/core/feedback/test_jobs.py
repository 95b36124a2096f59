"""Projects whose outputs two models make on the spot, as `annotate` jobs: checked before anything is queued,
generated through the comparison code, items blind and shuffled, lineage to the job, the run and the models;
a cancelled job makes no project; the bundled model end to end (slow)."""
import json
from contextlib import contextmanager

import pandas as pd
import pytest

from core.compare import runs
from core.data import versions
from core.errors import Conflict, PermissionDenied
from core.feedback import exports, jobs, projects, ratings, results
from core.feedback.schema import parse_question
from core.feedback.sources import DatasetSource
from core.governance.roles import SYSTEM
from core.inference.generate import GenerationSettings
from core.jobs import actions, queue
from core.jobs.run import JobCancelled
from core.models import bundled, sources
from tests.core.feedback.conftest import make_people
from tests.core.models.helpers import SERVER_KEY, _OpenAIHandler, openai_server

STYLES = {"tiny-chat": "Short: {}", "other-model": "A much longer and more careful answer to: {}"}


class _TwoStyles(_OpenAIHandler):
    """Each served model answers in its own style, without naming itself."""

    def do_POST(self):
        if not self._authorised():
            return
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = STYLES[request["model"]].format(request["messages"][-1]["content"])
        self._send(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": request["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": text}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}})


@contextmanager
def two_endpoints(store, monkeypatch):
    """Two registered endpoint models, `zeta` and `omega`, on one loopback OpenAI-compatible server."""
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)
    with openai_server(_TwoStyles) as url:
        for name, model in (("zeta", "tiny-chat"), ("omega", "other-model")):
            sources.add_endpoint(store, actor=SYSTEM, name=name, base_url=url, model=model,
                                 api_key_env="TEST_ENDPOINT_KEY")
        yield ("zeta", "omega")


def questions_dataset(store, rows: int = 8):
    frame = pd.DataFrame({"question": [f"How do I reset password {n}?" for n in range(rows)],
                          "topic": ["account"] * rows})
    versions.save_version(store, actor=SYSTEM, name="questions", frame=frame, transformation="import",
                          source="questions.csv")


def request(**changes) -> jobs.GenerateRequest:
    values = dict(name="duel-now", models=("zeta", "omega"), dataset_version="questions",
                  questions=(parse_question("better:pairwise"),), annotators=("ann", "bob"), prompt_column="question",
                  rows=6, seed=3, settings=GenerationSettings(max_new_tokens=8), per_item=2)
    values.update(changes)
    return jobs.GenerateRequest(**values)


@pytest.fixture
def team(store):
    return make_people(store, annotators=("ann", "bob"))


@pytest.fixture
def endpoints(store, monkeypatch):
    with two_endpoints(store, monkeypatch) as names:
        yield names


def test_two_models_answer_a_sample_and_the_project_appears_when_the_job_ends(store, team, endpoints):
    questions_dataset(store)
    job = jobs.submit(store, actor=team["dan"], request=request(), launcher="inprocess")
    assert (job.kind, job.status, job.created_by) == ("annotate", queue.SUCCEEDED, "dan"), job.error
    assert job.result["annotation_project"] == "duel-now" and job.result["items"] == 6
    assert (actions.progress(job).done, actions.progress(job).total) == (12, 12)

    project = projects.get_project(store, actor=team["dan"], project="duel-now")
    assert project.items == 6 and project.source_kind == "generated"
    params = project.source_params
    assert params["job_id"] == job.id and params["models"] == ["zeta", "omega"]
    assert params["run_id"] == job.result["comparison_run"] and params["dataset_version"] == "questions@1"
    assert params["prompt"] == "annotation-prompt@1" and params["prompt_column"] == "question"
    run = runs.get_run(store, actor=team["dan"], run_id=params["run_id"])
    assert run.job_id == job.id and run.models == ["zeta", "omega"] and run.status == "succeeded"
    assert run.settings["row_selection"] == {"rows": 6, "sample_seed": 3, "filter_column": None,
                                             "filter_text": None, "row_numbers": None}

    # Blind: the annotator reads the prompt and both styles, never a model name; items go to both annotators.
    queue_items = ratings.queue(store, actor=team["ann"], project="duel-now")
    assert len(queue_items) == 6
    for item in queue_items:
        shown = item.to_dict()
        assert shown["prompt"].startswith("How do I reset password")
        assert sorted(t.split(":")[0] for t in shown["responses"].values()) == [
            "A much longer and more careful answer to", "Short"]
        assert "zeta" not in json.dumps(shown) and "omega" not in json.dumps(shown)
    # Each item's own order is shuffled (seeded), so "A" is not always the first model.
    data = results.load(store, actor=team["dan"], project="duel-now")
    firsts = [item.responses[0]["model"] for item in data.items.values()]
    assert set(firsts) == {"zeta", "omega"}

    # Rated like any other project; results name the models.
    for item in queue_items:
        careful = next(side for side, text in item.to_dict()["responses"].items() if text.startswith("A much"))
        ratings.submit(store, actor=team["ann"], project="duel-now", item_id=item.item_id, answers={"better": careful})
    stats = results.project_stats(store, actor=team["dan"], project="duel-now", by="model", rounds=50)
    assert [s.model for s in stats.leaderboard] == ["omega", "zeta"]

    # The preference export's dataset version names the job, the run and the models, with the prompts as parent.
    made = exports.export(store, actor=team["dan"], project="duel-now", fmt="dpo")
    version = versions.get_version(store, actor=team["dan"], ref=made.dataset_version)
    assert made.rows == 6 and version.params["source_params"]["job_id"] == job.id
    assert version.params["source_params"]["models"] == ["zeta", "omega"]
    assert version.parents == ["questions@1"]


def test_a_bad_request_queues_nothing(store, team, endpoints):
    questions_dataset(store)
    bad = [(dict(models=("zeta", "zeta")), "two different models"),
           (dict(models=("zeta",)), "two different models"),
           (dict(questions=(parse_question("score:likert"),)), "rates one response"),
           (dict(prompt_column="nope"), "has no column 'nope'"),
           (dict(prompt_column=None), "prompt column, or a prompt version"),
           (dict(annotators=("nobody",)), "no account named 'nobody'"),
           (dict(models=("zeta", "missing")), "missing"),
           (dict(rows=0), "between 1 and")]
    for changes, message in bad:
        with pytest.raises(Exception, match=message):
            jobs.submit(store, actor=team["dan"], request=request(**changes), launcher="inprocess")
    projects.create_project(store, actor=team["dan"], name="taken", source=DatasetSource(
        ref="questions", prompt_column="question", response_columns=("question", "topic")),
        questions=[parse_question("better:pairwise")], annotators=["ann"])
    with pytest.raises(Conflict, match="exists already"):
        jobs.submit(store, actor=team["dan"], request=request(name="taken"), launcher="inprocess")
    with pytest.raises(PermissionDenied):
        jobs.submit(store, actor=team["ann"], request=request(), launcher="inprocess")
    assert queue.list_jobs(store, actor=SYSTEM) == []


def test_a_prompt_version_reads_mapped_columns(store, team, endpoints):
    from core.prompts import templates

    questions_dataset(store)
    templates.save_version(store, actor=SYSTEM, name="support", body="Topic {{ area }}: {{ question }}")
    job = jobs.submit(store, actor=team["dan"], request=request(prompt_column=None, prompt="support",
                                                                variable_map={"area": "topic"}, rows=2),
                      launcher="inprocess")
    assert job.status == queue.SUCCEEDED, job.error
    items = ratings.queue(store, actor=team["ann"], project="duel-now")
    assert all(i.to_dict()["prompt"].startswith("Topic account: How do I") for i in items)
    assert projects.get_project(store, actor=team["dan"], project="duel-now").source_params["prompt"] == "support@1"


def test_a_cancelled_job_stops_generating_and_makes_no_project(store, team, endpoints):
    questions_dataset(store)
    job = jobs.submit(store, actor=team["dan"], request=request(), launcher="inprocess")
    reports = []

    def progress(done, total, note=""):
        reports.append((done, total, note))
        if len(reports) > 2:
            raise JobCancelled()

    rerun = queue.get_job(store, actor=team["dan"], job_id=job.id)
    rerun = type(rerun)(**{**rerun.__dict__, "config": {**rerun.config, "name": "never-made"}})
    with pytest.raises(JobCancelled):
        jobs.run_job(store, rerun, progress)
    assert [p.name for p in projects.list_projects(store, actor=team["dan"])] == ["duel-now"]
    assert [r.status for r in runs.list_runs(store, actor=team["dan"])][0] == "cancelled"


@pytest.mark.slow
def test_the_bundled_model_answers_three_prompts_against_an_endpoint(models_store, team, monkeypatch):
    """Batched local generation with the bundled chat model on one side, 3 prompts, 4 new tokens."""
    questions_dataset(models_store, rows=3)
    chat = bundled.CHAT_MODEL.name
    with two_endpoints(models_store, monkeypatch):
        job = jobs.submit(models_store, actor=team["dan"], launcher="inprocess", request=request(
            models=(chat, "omega"), rows=3, settings=GenerationSettings(max_new_tokens=4)))
    assert job.status == queue.SUCCEEDED, job.error
    items = ratings.queue(models_store, actor=team["ann"], project="duel-now")
    assert len(items) == 3 and all(len(i.responses) == 2 and all(t.strip() for t in i.responses) for i in items)
    run = runs.get_run(models_store, actor=team["dan"], run_id=job.result["comparison_run"])
    local = [c for c in run.cells if c.model == chat]
    assert len(local) == 3 and all(0 < c.tokens_out <= 4 for c in local)
