"""`workbench finetune` and `workbench jobs` as real processes; `finetune run --wait` starts its own worker."""
import json

import pytest

from tests.cli.test_cli import run
from tests.core.finetune.helpers import secret_codes


@pytest.mark.slow
def test_run_and_wait_starts_a_worker_trains_and_prints_the_job(models_store, home, tmp_path, monkeypatch):
    secret_codes(models_store)
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"base_model": "smollm2-135m-instruct", "dataset": "secrets", "max_steps": 2,
                                  "batch_size": 4, "max_seq_length": 64, "eval_steps": 0}))
    result = run("finetune", "run", "--config", str(config), "--learning-rate", "5e-4", "--adapter-name",
                 "codes-v1", "--wait", "--json", home=home, timeout=600)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["status"] == "succeeded" and job["step"] == job["max_steps"] == 2 and "pid" not in job
    assert job["model"] == "codes-v1" and job["adapter_path"].endswith("/adapter")
    assert job["config"]["learning_rate"] == 5e-4

    shown = json.loads(run("jobs", "show", str(job["id"]), "--json", home=home).stdout)
    assert shown["status"] == "succeeded" and shown["model"] == "codes-v1"
    listed = run("jobs", "list", home=home).stdout
    assert "succeeded" in listed and "local-operator" in listed
    assert "job 1: attempt 1" in run("jobs", "logs", "1", "--tail", "200", home=home).stdout
    model = json.loads(run("models", "show", "codes-v1", "--json", home=home).stdout)
    assert model["kind"] == "adapter" and model["base_model"] == "smollm2-135m-instruct"
    # With MLFLOW_TRACKING_URI set, the run is in MLflow too, with its per-step loss.
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=tracking)
    [experiment] = [e for e in client.search_experiments() if e.name == "llmops-workbench"]
    [logged] = client.search_runs([experiment.experiment_id])
    assert logged.data.tags["workbench.job"] == "job-00001" and "loss" in logged.data.metrics
    assert "final_eval_loss" in logged.data.metrics and logged.data.params["workbench.adapter_name"] == "codes-v1"
    again = run("jobs", "cancel", "1", home=home)
    assert again.returncode == 2 and "already succeeded" in again.stderr


def test_check_reports_doomed_settings_and_bad_options_are_one_line(models_store, home):
    secret_codes(models_store)
    check = run("finetune", "check", "--base", "smollm2-135m-instruct", "--dataset", "secrets", "--max-seq-length",
                "100000", "--json", home=home)
    assert check.returncode == 2
    report = json.loads(check.stdout)
    assert not report["ok"] and any("exceeds" in c["message"] for c in report["checks"] if c["level"] == "error")
    for args, message in [
        (("finetune", "run", "--dataset", "secrets"), "Give --base"),
        (("finetune", "run", "--base", "smollm2-135m-instruct", "--dataset", "secrets", "--lora-r", "0"),
         "The LoRA rank (r) must be between 1 and 256, not 0."),
        (("finetune", "run", "--base", "smollm2-135m-instruct", "--dataset", "nope"), "no dataset named 'nope'"),
        (("jobs", "show", "42"), "There is no job 42."),
        (("jobs", "resume", "42"), "There is no job 42."),
    ]:
        result = run(*args, home=home)
        assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr, \
            (args, result.stderr)
        assert result.stderr.count("\n") == 1
    assert json.loads(run("jobs", "list", "--json", home=home).stdout) == []
