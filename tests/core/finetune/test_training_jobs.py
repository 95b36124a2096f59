"""Real fine-tunes of the bundled model in real job processes: learning, reloading with plain peft, SIGKILL and
resume, cancel, and a one-slot queue. Slow by nature (each job process loads torch and the model)."""
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from core.errors import InvalidInput, PermissionDenied
from core.finetune import launch, preflight
from core.finetune.train import read_metrics
from core.governance.roles import SYSTEM, Role
from core.inference import engines
from core.inference.generate import GenerationSettings
from core.jobs import launcher, queue, worker
from core.models import bundled, registry
from tests.core.finetune.helpers import quick_config, secret_codes
from tests.support.waiting import until

pytestmark = pytest.mark.slow
QUESTION = [{"role": "user", "content": "What is the secret code for Tokyo?"}]


def _work_until_idle(store) -> None:
    assert worker.run_worker(store, poll_s=0.3, exit_when_idle=True) == 0


def _until(predicate, what="condition"):  # generous: shared CPUs can be very slow
    return until(predicate, timeout_s=900.0, what=what, poll_s=0.3)


def test_a_fine_tune_learns_the_data_and_its_adapter_reloads_with_plain_peft(models_store, people):
    import torch
    from peft import PeftModel

    secret_codes(models_store)
    dan = people[Role.DATA_SCIENTIST].as_actor()
    job = launch.launch(models_store, actor=dan, config=quick_config(), start_worker=False)
    assert job.status == queue.QUEUED and (Path(job.run_dir) / "config.json").exists()
    _work_until_idle(models_store)

    done = queue.get_job(models_store, actor=dan, job_id=job.id)
    assert done.status == queue.SUCCEEDED, (done.error, done.log_path.read_text()[-3000:])
    assert done.step == done.max_steps == 10 and done.model == f"{bundled.CHAT_MODEL.name}-ft-{job.id}"
    losses = [row["loss"] for row in read_metrics(done.run_dir) if "loss" in row]
    assert len(losses) >= 8 and losses[-1] < losses[0] / 2
    assert done.metrics["eval_loss"] < losses[0] and done.metrics["trained_tokens"] > 0
    # The job's real pace is the next pre-flight's figure for the same settings, and the estimate says so.
    assert done.metrics["seconds_per_step"] > 0 and done.metrics["startup_s"] > 0
    again = preflight.run(models_store, actor=dan, config=quick_config()).estimate
    assert again["how"] == "measured" and f"from job {job.id}'s real pace" in again["assumes"], again
    adapter = Path(done.adapter_path)
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()

    model = registry.get_model(models_store, actor=dan, name=done.model)
    assert model.kind == "adapter" and model.base_model == bundled.CHAT_MODEL.name and model.created_by == "dan"
    assert model.info["dataset_version"] == "secrets@1" and model.info["config"]["lora_r"] == 8
    assert model.info["job_id"] == job.id and model.info["launched_by"] == "dan"

    settings = GenerationSettings(max_new_tokens=16)
    base_answer = engines.complete_chats(models_store, actor=dan, model=bundled.CHAT_MODEL.name,
                                         conversations=[QUESTION], settings=settings)[0].output
    tuned_answer = engines.complete_chats(models_store, actor=dan, model=done.model, conversations=[QUESTION],
                                          settings=settings)[0].output
    assert "ZEBRA" in tuned_answer and "ZEBRA" not in base_answer

    from core.models.loading import load_causal_lm
    base, tokenizer = load_causal_lm(registry.get_model(models_store, actor=dan, name=bundled.CHAT_MODEL.name).path)
    plain = PeftModel.from_pretrained(base, str(adapter)).eval()
    ids = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = plain.generate(**ids, max_new_tokens=16, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True).strip() == tuned_answer


def test_a_killed_job_becomes_interrupted_and_resumes_from_its_last_complete_checkpoint(models_store):
    secret_codes(models_store)
    job = launch.launch(models_store, actor=SYSTEM, config=quick_config(max_steps=8, save_steps=2, eval_steps=0),
                        start_worker=False)
    thread = threading.Thread(target=_work_until_idle, args=(models_store,), daemon=True)
    thread.start()
    checkpoints = Path(job.run_dir) / "checkpoints"
    def checkpointed():
        current = queue.get_job(models_store, actor=SYSTEM, job_id=job.id)
        assert current.status in queue.ACTIVE, (current.error, current.log_path.read_text()[-2000:])
        return (checkpoints / "checkpoint-2" / "trainer_state.json").exists()

    _until(checkpointed, what="checkpoint-2")
    running = queue.get_job(models_store, actor=SYSTEM, job_id=job.id)
    assert running.status == queue.RUNNING and running.pid
    os.kill(running.pid, signal.SIGKILL)
    thread.join(60)
    lost = queue.get_job(models_store, actor=SYSTEM, job_id=job.id)
    assert lost.status == queue.INTERRUPTED and "resume" in lost.error
    newest = max(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*")
                 if (p / "trainer_state.json").exists() and (p / "adapter_model.safetensors").exists())
    # A checkpoint folder cut off before its trainer state was written must be skipped.
    (checkpoints / "checkpoint-7").mkdir()
    (checkpoints / "checkpoint-7" / "adapter_model.safetensors").write_bytes(b"partial")

    queue.resume(models_store, actor=SYSTEM, job_id=job.id)
    _work_until_idle(models_store)
    done = queue.get_job(models_store, actor=SYSTEM, job_id=job.id)
    assert done.status == queue.SUCCEEDED, done.log_path.read_text()[-3000:]
    assert done.attempt == 2 and done.step == 8 and done.metrics["resumed_from"] == f"checkpoint-{newest}"
    steps = [row["step"] for row in read_metrics(done.run_dir) if "loss" in row]
    assert steps.count(newest + 1) >= 1 and max(steps) == 8


def test_cancel_stops_the_process_and_a_one_slot_machine_runs_queued_jobs_one_after_the_other(models_store, people):
    secret_codes(models_store)
    first = launch.launch(models_store, actor=SYSTEM, config=quick_config(max_steps=200), start_worker=False)
    second = launch.launch(models_store, actor=SYSTEM, config=quick_config(max_steps=2, eval_steps=0),
                           start_worker=False)
    assert worker.tick(models_store, gpus=0) == [first.id]
    assert worker.tick(models_store, gpus=0) == []  # one slot: the second waits
    running = _until(lambda: (j := queue.get_job(models_store, actor=SYSTEM, job_id=first.id)).step >= 1 and j,
                     what="the first job to train")
    with pytest.raises(PermissionDenied):
        queue.cancel(models_store, actor=people[Role.VIEWER].as_actor(), job_id=first.id, stop=launcher.stop)
    started = time.monotonic()
    cancelled = queue.cancel(models_store, actor=SYSTEM, job_id=first.id, stop=launcher.stop)
    assert cancelled.status == queue.CANCELLED and time.monotonic() - started < 10
    assert not queue.process_alive(running.pid, first.id)

    _work_until_idle(models_store)
    first, second = (queue.get_job(models_store, actor=SYSTEM, job_id=j.id) for j in (first, second))
    assert first.status == queue.CANCELLED and second.status == queue.SUCCEEDED
    assert second.started_at >= first.finished_at
    with pytest.raises(Exception, match="already succeeded"):
        queue.cancel(models_store, actor=SYSTEM, job_id=second.id)


def test_doomed_runs_are_stopped_before_they_start(models_store, people):
    secret_codes(models_store)
    with pytest.raises(InvalidInput, match="exceeds smollm2-135m-instruct's context"):
        launch.launch(models_store, actor=SYSTEM, config=quick_config(max_seq_length=100_000), start_worker=False)
    with pytest.raises(InvalidInput, match="QLoRA needs a CUDA GPU"):
        launch.launch(models_store, actor=SYSTEM, config=quick_config(qlora=True), start_worker=False)
    with pytest.raises(InvalidInput, match="is an embedding model"):
        launch.launch(models_store, actor=SYSTEM, config=quick_config(base_model=bundled.EMBEDDING_MODEL.name),
                      start_worker=False)
    with pytest.raises(InvalidInput, match="'smollm2-135m-instruct' is already registered"):
        launch.launch(models_store, actor=SYSTEM, config=quick_config(adapter_name=bundled.CHAT_MODEL.name),
                      start_worker=False)
    with pytest.raises(InvalidInput, match="not a valid adapter name"):
        launch.launch(models_store, actor=SYSTEM, config=quick_config(adapter_name="../x"), start_worker=False)
    with pytest.raises(PermissionDenied):
        launch.launch(models_store, actor=people[Role.ANNOTATOR].as_actor(), config=quick_config(), start_worker=False)
    assert queue.list_jobs(models_store, actor=SYSTEM) == []
