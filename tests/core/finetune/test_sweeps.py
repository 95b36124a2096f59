"""Sweeps queue one job per trial with the trial's settings; optuna asks TPE in waves; the ranking sorts by eval loss.

The training each trial runs is tested in test_training_jobs.py; here the jobs' ends are reported through the same
queue functions a job process uses, so the tests stay fast."""
import pytest

from core.errors import InvalidInput, PermissionDenied
from core.finetune import sweeps
from core.governance.roles import SYSTEM, Role
from core.jobs import queue
from tests.core.finetune.helpers import quick_config, secret_codes


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    # The queued trials are inspected, not run: keep launch_sweep from starting a worker process.
    monkeypatch.setattr("core.jobs.worker.ensure_worker", lambda settings: False)


def _finish(store, job_id, eval_loss):
    queue.claim(store, job_id, pid=1, devices=None)
    queue.finish(store, job_id, queue.SUCCEEDED, metrics={"eval_loss": eval_loss, "train_loss": eval_loss + 0.1})


def test_a_grid_queues_every_combination_and_ranks_by_eval_loss(models_store):
    secret_codes(models_store)
    dims = [sweeps.parse_dimension("learning_rate=1e-4,1e-3"), sweeps.parse_dimension("lora-r=4,8")]
    sweep = sweeps.launch_sweep(models_store, actor=SYSTEM, base=quick_config(), dimensions=dims, method="grid")
    jobs = queue.list_jobs(models_store, actor=SYSTEM, sweep_id=sweep["id"])
    assert len(jobs) == 4 and all(j.status == queue.QUEUED for j in jobs)
    assert {(j.config["learning_rate"], j.config["lora_r"]) for j in jobs} == {(1e-4, 4), (1e-4, 8), (1e-3, 4),
                                                                                (1e-3, 8)}
    assert len({j.config["adapter_name"] for j in jobs}) == 4
    for job, loss in zip(sorted(jobs, key=lambda j: j.id), (0.9, 0.3, 0.5)):
        _finish(models_store, job.id, loss)
    ranked = sweeps.ranking(models_store, actor=SYSTEM, sweep_id=sweep["id"])
    assert [r["eval_loss"] for r in ranked] == [0.3, 0.5, 0.9, None]
    assert ranked[0]["status"] == "succeeded" and ranked[-1]["status"] == "queued"


def test_random_draws_are_seeded_and_inside_the_ranges(models_store):
    secret_codes(models_store)
    dims = [sweeps.parse_dimension("learning_rate=1e-5:1e-3:log"), sweeps.parse_dimension("lora_r=2:32")]
    made = []
    for _ in range(2):
        sweep = sweeps.launch_sweep(models_store, actor=SYSTEM, base=quick_config(), dimensions=dims,
                                    method="random", trials=5, seed=3)
        made.append(sorted((j.config["learning_rate"], j.config["lora_r"])
                           for j in queue.list_jobs(models_store, actor=SYSTEM, sweep_id=sweep["id"])))
    assert made[0] == made[1] and len(made[0]) == 5
    assert all(1e-5 <= lr <= 1e-3 and 2 <= r <= 32 and isinstance(r, int) for lr, r in made[0])


def test_optuna_runs_in_waves_and_learns_from_finished_trials(models_store):
    secret_codes(models_store)
    dims = [sweeps.parse_dimension("learning_rate=1e-5:1e-2:log")]
    sweep = sweeps.launch_sweep(models_store, actor=SYSTEM, base=quick_config(), dimensions=dims, method="optuna",
                                trials=8, parallel=2, seed=1)
    jobs = lambda: queue.list_jobs(models_store, actor=SYSTEM, sweep_id=sweep["id"])  # noqa: E731
    assert len(jobs()) == 2
    assert sweeps.advance(models_store, sweep["id"]) == 0  # two in flight already
    # Trials near 1e-3 do best; after a few waves TPE should ask near there.
    while len(jobs()) < 8:
        for job in [j for j in jobs() if j.status == queue.QUEUED]:
            lr = job.config["learning_rate"]
            import math
            _finish(models_store, job.id, abs(math.log10(lr) + 3))
        sweeps.advance(models_store, sweep["id"])
    assert len(jobs()) == 8 and sweeps.advance(models_store, sweep["id"]) == 0
    late = [j.config["learning_rate"] for j in sorted(jobs(), key=lambda j: j.id)[-2:]]
    early = [j.config["learning_rate"] for j in sorted(jobs(), key=lambda j: j.id)[:2]]
    import math
    assert min(abs(math.log10(lr) + 3) for lr in late) <= min(abs(math.log10(lr) + 3) for lr in early) + 0.5


@pytest.mark.parametrize("text,message", [
    ("learning_rate", "is not a search dimension"),
    ("dataset=a,b", "not a setting a sweep can vary"),
    ("lora_r=0,8", "The LoRA rank (r) must be between 1 and 256, not 0."),
    ("learning_rate=1e-3:1e-5", "from a lower to a higher value"),
    ("learning_rate=0:1e-3:log", "must start above zero"),
    ("format=chat:auto", "must hold numbers"),
])
def test_bad_dimensions_are_one_sentence(text, message):
    with pytest.raises(InvalidInput) as caught:
        sweeps.parse_dimension(text)
    assert message in caught.value.message


def test_refusals_queue_nothing(models_store, people):
    secret_codes(models_store)
    ranges = [sweeps.parse_dimension("learning_rate=1e-5:1e-3")]
    with pytest.raises(InvalidInput, match="grid sweep lists values"):
        sweeps.launch_sweep(models_store, actor=SYSTEM, base=quick_config(), dimensions=ranges, method="grid")
    with pytest.raises(InvalidInput, match="exceeds"):
        sweeps.launch_sweep(models_store, actor=SYSTEM, base=quick_config(max_seq_length=100_000),
                            dimensions=ranges, method="random")
    with pytest.raises(PermissionDenied):
        sweeps.launch_sweep(models_store, actor=people[Role.VIEWER].as_actor(), base=quick_config(),
                            dimensions=ranges, method="random")
    assert queue.list_jobs(models_store, actor=SYSTEM) == []
