"""One run lifecycle for every kind: the transition table, the actions the pages and the CLI share, the in-process
and local-process launchers, and a comparison run as a job through a real worker process."""
import os
from pathlib import Path

import pytest

from core.compare import jobs as compare_jobs
from core.compare import runs
from core.errors import Conflict, InvalidInput, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role
from core.inference.generate import GenerationSettings
from core.jobs import actions, kinds, queue, worker
from core.jobs.launcher import LAUNCHERS, command_for
from core.models import sources
from core.prompts import templates
from tests.core.models.helpers import SERVER_KEY, openai_server
from tests.support.waiting import until


@pytest.fixture
def endpoint_key(monkeypatch):
    monkeypatch.setenv("TEST_ENDPOINT_KEY", SERVER_KEY)


@pytest.fixture
def remote(store, endpoint_key):
    """Two prompt versions and an OpenAI-compatible endpoint model that echoes the prompt."""
    templates.save_version(store, actor=SYSTEM, name="ask", body="Q: {{ question }}")
    templates.save_version(store, actor=SYSTEM, name="ask", body="Answer briefly: {{ question }}")
    with openai_server() as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        yield "remote"


REQUEST = dict(prompts=["ask@1", "ask@2"], models=["remote"],
               inputs=[{"question": "2+2?", "expected": "echo: Q: 2+2?"}, {"question": "Sky?", "expected": "blue"}],
               reference_column="expected", settings=GenerationSettings(max_new_tokens=8),
               metrics=["exact_match", "length_words"])


def _cells(run):
    return [(c.row_index, c.prompt, c.model, c.output, c.tokens_in, c.tokens_out, c.scores) for c in run.cells]


def test_the_transition_table_decides_which_actions_a_job_offers():
    assert set(queue.ALLOWED) == set(queue.STATUSES)
    for status in queue.STATUSES:
        for kind in ("finetune", "compare"):
            job = _job(kind, status)
            assert actions.can_cancel(job) == (status in queue.ACTIVE)
            # Only resumable kinds resume, and only from a stopped state.
            assert actions.can_resume(job) == (kind == "finetune" and status in ("failed", "cancelled", "interrupted"))
    assert queue.ALLOWED[queue.SUCCEEDED] == set()


def _job(kind, status, **changes):
    from datetime import datetime, timezone

    values = dict(id=1, kind=kind, name="x", status=status, config={}, run_dir="/tmp/x", gpus=0, devices=None,
                  launcher="local", external_id=None, pid=None, host=None, step=0, max_steps=None, attempt=0,
                  resume=False, sweep_id=None, metrics={}, error=None, note=None, result=None, adapter_path=None,
                  model=None, created_at=datetime.now(timezone.utc), created_by="dan", started_at=None,
                  heartbeat_at=None, finished_at=None)
    values.update(changes)
    return queue.JobInfo(**values)


def test_kinds_are_registered_once_with_their_entry_and_rules():
    assert {"finetune", "compare", "pipeline"} <= set(kinds.KINDS)
    for kind in kinds.KINDS.values():
        assert callable(kind.function()), kind.name
    assert kinds.get_kind("finetune").resumable and kinds.get_kind("finetune").exclusive
    assert not kinds.get_kind("compare").resumable and not kinds.get_kind("compare").exclusive
    assert command_for(_job("compare", "queued", id=7), None)[-3:] == ["core.jobs.run", "--job", "7"]
    assert command_for(_job("finetune", "queued", id=7), None)[-3:] == ["core.finetune.run", "--job", "7"]
    with pytest.raises(InvalidInput, match="not a kind of job"):
        kinds.get_kind("nonsense")
    assert set(LAUNCHERS) == {"local", "ray", "inprocess"}


def test_a_comparison_job_in_process_gives_the_cells_of_a_direct_run(store, remote, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    direct = runs.run_comparison(store, actor=dan, **REQUEST)
    job = compare_jobs.submit_comparison(store, actor=dan, **REQUEST, launcher="inprocess")
    assert (job.kind, job.status, job.created_by) == ("compare", queue.SUCCEEDED, "dan")
    assert job.result["comparison_run"] != direct.id and job.result["cells"] == 4
    made = runs.run_of_job(store, actor=dan, job_id=job.id)
    assert made.id == job.result["comparison_run"] and made.job_id == job.id and made.status == "succeeded"
    assert _cells(made) == _cells(direct)
    progress = actions.progress(job)
    assert (progress.done, progress.total, progress.fraction) == (4, 4, 1.0)
    assert [j.kind for j in actions.list_jobs(store, actor=dan, kind="compare")] == ["compare"]
    with pytest.raises(Conflict, match="cannot be resumed"):
        actions.resume(store, actor=dan, job_id=job.id)
    with pytest.raises(Conflict, match="already succeeded"):
        actions.cancel(store, actor=dan, job_id=job.id)


def test_a_bad_comparison_request_queues_no_job(store, remote):
    with pytest.raises(InvalidInput, match="needs a value for 'question'"):
        compare_jobs.submit_comparison(store, actor=SYSTEM, **{**REQUEST, "inputs": [{"other": "x"}]},
                                       launcher="inprocess")
    assert queue.list_jobs(store, actor=SYSTEM) == []


def test_annotators_may_not_submit_or_cancel_comparisons(store, remote, people):
    annotator = people[Role.ANNOTATOR].as_actor()
    with pytest.raises(PermissionDenied):
        compare_jobs.submit_comparison(store, actor=annotator, **REQUEST, launcher="inprocess")


def test_a_comparison_job_runs_in_a_real_worker_process_and_a_queued_one_cancels(store, remote, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    inprocess = compare_jobs.submit_comparison(store, actor=dan, **REQUEST, launcher="inprocess")
    # The local launcher starts a detached worker, which starts `python -m core.jobs.run --job ID`.
    job = compare_jobs.submit_comparison(store, actor=dan, **REQUEST)
    assert job.launcher == "local" and job.status in (queue.QUEUED, queue.RUNNING)
    done = actions.wait(store, actor=dan, job_id=job.id, timeout_s=300, poll_s=0.3)
    assert done.status == queue.SUCCEEDED, (done.error, actions.logs(store, actor=dan, job_id=job.id))
    assert done.pid is None and done.attempt == 1
    assert "job %d: attempt 1" % job.id in actions.logs(store, actor=dan, job_id=job.id, tail=50)
    ran = runs.run_of_job(store, actor=dan, job_id=job.id)
    assert _cells(ran) == _cells(runs.run_of_job(store, actor=dan, job_id=inprocess.id))
    # The run row names the job process, not this one.
    assert ran.job_id == job.id
    until(lambda: not worker.worker_running(store.settings), timeout_s=60, what="the idle worker to exit")

    # Cancelled before a worker takes it: it never runs, and the cancel is audited.
    queued = queue.submit(store, actor=dan, kind="compare", name="later", config={})
    cancelled = actions.cancel(store, actor=dan, job_id=queued.id)
    assert cancelled.status == queue.CANCELLED and not actions.can_cancel(cancelled)


def test_the_worker_runs_a_comparison_beside_a_running_fine_tune(store, people, monkeypatch):
    """On a machine without GPUs a fine-tune takes the machine, but light kinds still get a slot."""
    dan = people[Role.DATA_SCIENTIST].as_actor()
    started = []
    monkeypatch.setattr("core.jobs.launcher.start", lambda job, devices: started.append(job.id) or os.getpid())
    first = queue.submit(store, actor=dan, kind="finetune", name="long", config={})
    second = queue.submit(store, actor=dan, kind="finetune", name="next", config={})
    comparison = queue.submit(store, actor=dan, kind="compare", name="quick", config={})
    assert worker.tick(store, gpus=0) == [first.id, comparison.id]
    assert queue.get_job(store, actor=dan, job_id=second.id).status == queue.QUEUED
    assert Path(first.run_dir, "config.json").exists()


def test_a_page_follows_the_users_own_running_or_queued_job_of_its_kind(store, people):
    """What Compare, Pipelines and Feedback do before offering Run: find this user's job still in flight."""
    dan = Actor(name="dan", role=Role.DATA_SCIENTIST, user_id=people[Role.DATA_SCIENTIST].id)
    ada = Actor(name="ada", role=Role.ADMIN, user_id=people[Role.ADMIN].id)
    assert actions.active_job(store, actor=dan, kind="compare") is None
    job = queue.submit(store, actor=dan, kind="compare", name="grid", config={})
    assert actions.active_job(store, actor=dan, kind="compare").id == job.id
    assert compare_jobs.active_job(store, actor=dan).id == job.id
    assert actions.active_job(store, actor=dan, kind="pipeline") is None
    assert actions.active_job(store, actor=ada, kind="compare") is None  # another user's job is not theirs to follow
    queue.cancel(store, actor=dan, job_id=job.id)
    assert actions.active_job(store, actor=dan, kind="compare") is None
