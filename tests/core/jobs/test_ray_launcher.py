"""With WORKBENCH_RAY_ADDRESS set, fine-tunes go through Ray's job submission API to a real Ray head on loopback:
the same job spec, the same states, logs from Ray, cancel through Ray; remote addresses need a token."""
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.finetune import launch
from core.governance.roles import SYSTEM
from core.jobs import actions, queue, ray_launcher
from core.settings import Settings
from tests.core.finetune.helpers import quick_config, secret_codes
from tests.support.waiting import until

RAY = str(Path(sys.executable).parent / "ray")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    if not Path(RAY).exists():
        pytest.skip("Ray is not installed in this environment (make setup installs it).")
    temp = tmp_path_factory.mktemp("ray")
    dashboard = _free_port()
    started = subprocess.run(
        [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={_free_port()}",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=true", "--disable-usage-stats", f"--temp-dir={temp}"],
        capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stderr[-2000:]
    address = f"http://127.0.0.1:{dashboard}"
    from ray.job_submission import JobSubmissionClient

    deadline = time.monotonic() + 60
    while True:  # the job API answers a moment after `ray start` returns
        try:
            JobSubmissionClient(address).list_jobs()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    yield address
    subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
    shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_a_fine_tune_runs_on_the_ray_cluster_and_cancel_goes_through_ray(models_store, ray_head, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", ray_head)
    store = models_store.__class__(Settings.from_env())  # the same home, now with the Ray address
    secret_codes(store)
    job = launch.launch(store, actor=SYSTEM, config=quick_config(max_steps=2, eval_steps=0))
    assert job.launcher == "ray" and job.external_id == f"workbench-job-{job.id}-1" and job.gpus == 0
    done = launch.wait(store, actor=SYSTEM, job_id=job.id, timeout_s=900, poll_s=1)
    assert done.status == queue.SUCCEEDED, (done.error, ray_launcher.logs(store, done)[-3000:])
    assert done.model and Path(done.adapter_path, "adapter_model.safetensors").exists()
    assert f"job {job.id}: attempt 1" in ray_launcher.logs(store, done)

    long = launch.launch(store, actor=SYSTEM, config=quick_config(max_steps=500, eval_steps=0))
    deadline = time.monotonic() + 900
    while queue.get_job(store, actor=SYSTEM, job_id=long.id).step < 1:
        assert time.monotonic() < deadline, "the Ray job never started training"
        time.sleep(1)
    cancelled = queue.cancel(store, actor=SYSTEM, job_id=long.id)
    assert cancelled.status == queue.CANCELLED
    client = ray_launcher.client(store.settings)
    deadline = time.monotonic() + 60
    while str(client.get_job_status(cancelled.external_id)).rsplit(".", 1)[-1] not in ("STOPPED", "FAILED"):
        assert time.monotonic() < deadline, "Ray did not stop the job"
        time.sleep(1)
    launch.reconcile_all(store)
    assert queue.get_job(store, actor=SYSTEM, job_id=long.id).status == queue.CANCELLED

    # Resumed through the same action the page and `workbench jobs resume` call: back to Ray as a new submission,
    # where its process claims the job again (attempt 2).
    resumed = actions.resume(store, actor=SYSTEM, job_id=long.id)
    assert resumed.launcher == "ray" and resumed.resume and resumed.external_id == f"workbench-job-{long.id}-2"
    running = until(lambda: (j := queue.get_job(store, actor=SYSTEM, job_id=long.id)).status == queue.RUNNING and j,
                    timeout_s=900, what="the resumed Ray job to run", poll_s=1)
    assert running.attempt == 2
    assert actions.cancel(store, actor=SYSTEM, job_id=long.id).status == queue.CANCELLED
    store.dispose()


def test_a_remote_ray_address_without_a_token_is_refused():
    with pytest.raises(InvalidInput, match="not on this machine and no WORKBENCH_RAY_TOKEN is set"):
        ray_launcher.check_address("http://10.1.2.3:8265", "")
    assert ray_launcher.check_address("10.1.2.3:8265", "secret") == "http://10.1.2.3:8265"
    assert ray_launcher.check_address("http://localhost:8265", "") == "http://localhost:8265"
    assert ray_launcher.check_address("[::1]:8265", "") == "http://[::1]:8265"
    with pytest.raises(InvalidInput, match="must look like"):
        ray_launcher.check_address("ftp://127.0.0.1", "")


def test_launch_refuses_a_remote_cluster_without_a_token_and_queues_nothing(models_store, monkeypatch):
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", "http://203.0.113.9:8265")
    store = models_store.__class__(Settings.from_env())
    secret_codes(store)
    with pytest.raises(InvalidInput, match="refuses to send jobs"):
        launch.launch(store, actor=SYSTEM, config=quick_config())
    assert queue.list_jobs(store, actor=SYSTEM) == []
    store.dispose()
