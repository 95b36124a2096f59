"""A fine-tune's pace, time left and metric series from its training log, and the diff of two runs' configs."""
from datetime import datetime, timezone

import pytest

from core.finetune.config import label_of
from core.finetune.progress import config_diff, eta_seconds, metric_series, seconds_per_step
from core.jobs.queue import JobInfo


def _job(id=1, step=0, max_steps=None, **config):
    return JobInfo(id=id, kind="finetune", name="x", status="running", config=config, run_dir="/tmp/x", gpus=0,
                   devices=None, launcher="local", external_id=None, pid=None, host=None, step=step,
                   max_steps=max_steps, attempt=1, resume=False, sweep_id=None, metrics={}, error=None, note=None,
                   result=None, adapter_path=None, model=None, created_at=datetime.now(timezone.utc),
                   created_by="dan", started_at=None, heartbeat_at=None, finished_at=None)


def test_the_pace_is_the_latest_attempts_and_gives_the_time_left():
    rows = [{"step": 1, "time_s": 10.0}, {"step": 5, "time_s": 30.0},  # first attempt: 5 s a step
            {"step": 4, "time_s": 2.0}, {"step": 6, "time_s": 8.0}, {"step": 8, "time_s": 14.0}]  # resumed: 3 s
    assert seconds_per_step(rows) == pytest.approx(3.0)
    assert eta_seconds(_job(step=8, max_steps=20), rows) == pytest.approx(36.0)
    assert seconds_per_step(rows[:1]) is None and eta_seconds(_job(step=1, max_steps=20), rows[:1]) is None


def test_a_metric_series_keeps_one_value_per_step_the_latest():
    rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": float("nan")}, {"step": 2, "loss": 1.5},
            {"step": 1, "loss": 1.9}, {"step": 3}, {"loss": 0.1}]
    assert metric_series(rows, "loss") == ([1, 2], [1.9, 1.5])


def test_the_config_diff_lists_only_what_differs_with_form_labels():
    a, b = _job(id=1, lora_r=8, learning_rate=2e-4), _job(id=2, lora_r=16, learning_rate=2e-4)
    [row] = config_diff(a, b)
    assert row == {"Setting": label_of("lora_r"), "Job 1": "8", "Job 2": "16"}
