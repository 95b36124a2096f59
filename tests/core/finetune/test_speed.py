"""The pre-flight time estimate: measured on this machine from the job's own steps, cached, and said so."""
import json
import os

import pytest

from core.finetune import preflight, speed
from core.finetune.config import FinetuneConfig
from core.governance.roles import SYSTEM


def _measurement(**changes) -> speed.Measurement:
    values = dict(device="CPU (2 cores, x86_64)", micro_step_s=2.0, eval_batch_s=0.5, load_s=3.0, save_s=0.2,
                  tokenize_row_s=0.001, import_s=6.0, measured_at=0.0)
    return speed.Measurement(**{**values, **changes})


def test_the_whole_job_is_counted_start_up_steps_evaluations_and_checkpoints():
    config = FinetuneConfig(base_model="m", dataset="d", batch_size=4, gradient_accumulation=2, eval_steps=10,
                            save_steps=10, max_steps=30)
    seconds = speed.seconds(_measurement(), config=config, steps=30, train_rows=90, eval_rows=10, total_rows=100)
    startup = speed.FIXED_OVERHEAD_S + 6.0 + 3.0 + 100 * 0.001
    train = 30 * 2 * 2.0
    evaluation = 3 * 3 * 0.5  # every 10 steps (the last step's evaluation is the final one), 3 batches of 4 each
    saves = 3 * 3 * 0.2 + 0.2
    assert seconds == pytest.approx(startup + train + evaluation + saves)
    uneven = speed.seconds(_measurement(), config=config, steps=25, train_rows=90, eval_rows=10, total_rows=100)
    assert uneven == pytest.approx(startup + 25 * 2 * 2.0 + (2 + 1) * 3 * 0.5 + 2 * 3 * 0.2 + 0.2)  # + a final one


def test_a_figure_taken_under_other_load_is_not_current_and_is_scaled_to_the_load_now():
    quiet = _measurement(load_per_core=0.0, measured_at=1_000.0)
    assert speed.is_current(quiet, load_now=0.2, now=2_000.0)  # 1.2x: within the tolerance
    assert not speed.is_current(quiet, load_now=1.0, now=2_000.0)  # a busy machine paces a job about 2x slower
    busy = _measurement(load_per_core=3.0, measured_at=1_000.0)  # the defect: a figure from a load of 6 on 2 cores
    assert not speed.is_current(busy, load_now=0.0, now=2_000.0)
    moved = speed.scaled(busy, load_now=0.0)
    assert moved.micro_step_s == pytest.approx(2.0 / 4) and moved.load_s == pytest.approx(3.0 / 4)
    assert moved.import_s == busy.import_s and "scaled to the load now (0.0 per core)" in moved.describe()
    assert speed.scaled(quiet, load_now=0.1) is quiet
    assert not speed.is_current(quiet, load_now=0.0, now=1_000.0 + speed.MAX_AGE_S + 1)  # a month old
    gpu = _measurement(device="NVIDIA H200", load_per_core=0.0, measured_at=1_000.0)
    assert speed.is_current(gpu, load_now=5.0, now=2_000.0)  # a GPU's pace does not follow the CPU's load


def test_a_finished_jobs_real_pace_replaces_the_figure_and_keeps_the_checks_evaluation_figures(tmp_path):
    config = FinetuneConfig(base_model="m", dataset="d", batch_size=4, max_steps=30)
    args = dict(device="CPU (2 cores, x86_64)", model="m", dataset_sha="abc", config=config)
    cache = {speed._key(*args.values()): {**_measurement(load_per_core=3.0).__dict__}}
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / speed.CACHE_FILE).write_text(json.dumps(cache))
    recorded = speed.record_job(tmp_path, **args, job_id=7, micro_step_s=0.6, startup_s=9.0, load=0.1)
    assert recorded.micro_step_s == 0.6 and recorded.source == "job 7" and recorded.load_per_core == 0.1
    assert recorded.eval_batch_s == 0.5 and recorded.import_s + recorded.load_s == pytest.approx(9.0)
    assert recorded.tokenize_row_s == 0.0  # the job's start-up already holds its tokenising
    assert "from job 7's real pace on this machine" in recorded.describe()
    assert speed.measured(tmp_path, **args) == recorded
    # Without a Check before it, a job's figures stand alone.
    other = dict(args, dataset_sha="def")
    alone = speed.record_job(tmp_path, **other, job_id=8, micro_step_s=1.0, startup_s=None, load=0.0)
    assert alone.micro_step_s == 1.0 and alone.source == "job 8"


def test_the_load_counts_other_runnable_threads_now(tmp_path):
    import subprocess
    import sys
    import time

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 1))]
    try:
        time.sleep(0.5)
        assert speed.load_per_core() >= 1.0  # two busy processes per core (at least; tests may run beside)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_an_entry_written_before_loads_were_kept_still_reads():
    entry = {k: v for k, v in _measurement().__dict__.items() if k not in ("load_per_core", "source", "scaled_to")}
    assert speed.Measurement(**entry).source == "check"


@pytest.mark.slow
def test_preflight_measures_this_machine_once_and_says_how_the_estimate_was_made(models_store, tmp_path,
                                                                                monkeypatch):
    import pandas as pd

    # The machine's other work is held still here (tests run beside each other); how it moves the figures is
    # tested above.
    monkeypatch.setattr(speed, "load_per_core", lambda: 0.0)

    from core.data import ingest

    rows = [{"prompt": f"What is {i} plus {i}?", "response": f"{i} plus {i} is {2 * i}."} for i in range(40)]
    path = tmp_path / "sums.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    ingest.import_file(models_store, actor=SYSTEM, path=path, name="sums")
    config = FinetuneConfig(base_model="smollm2-135m-instruct", dataset="sums", max_steps=5, batch_size=1,
                            max_seq_length=128, eval_steps=0)
    unmeasured = preflight.run(models_store, actor=SYSTEM, config=config)  # launching never waits for a measurement
    assert unmeasured.estimate["how"] == "guessed" and "Check measures them" in unmeasured.estimate["assumes"]
    first = preflight.run(models_store, actor=SYSTEM, config=config, measure=True)
    assert first.estimate["how"] == "measured", first.estimate
    assert "measured on this machine (CPU" in first.estimate["assumes"]
    assert first.estimate["minutes"] > 0
    cache = json.loads((models_store.settings.home / "cache" / speed.CACHE_FILE).read_text())
    assert len([k for k in cache if not k.startswith("import:")]) == 1
    again = preflight.run(models_store, actor=SYSTEM, config=config)  # from the cache now, same figures
    assert again.estimate["minutes"] == first.estimate["minutes"]
