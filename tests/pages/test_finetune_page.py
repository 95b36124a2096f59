"""The Fine-tune page under AppTest: the form generated from FinetuneConfig, presets, pre-flight and preview, launch,
the jobs table and live view, cancel and resume, run comparison, and who may see what.

No test here trains: a launch from the page queues a real job row, and the worker the launch would start (a
detached process that runs the job) is replaced by a recorder; the job is then cancelled through the page. The job
processes themselves are tested in tests/core/finetune/test_training_jobs.py.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.finetune import preflight
from core.finetune.config import FIELDS, PRESETS, FinetuneConfig, label_of
from core.governance import logins
from core.governance.roles import SYSTEM
from core.governance.users import get_user
from core.jobs import queue, worker
from core.models import bundled, registry
from tests.conftest import PASSWORD
from tests.core.finetune.helpers import secret_codes
from workbench.navigation import PAGES
from workbench.ui import finetune_view as view

PAGE = str(PAGES[0].path.parent.parent / "pages" / "finetune.py")


def _open(store, name: str, **state) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    for key, value in state.items():
        app.session_state[key] = value
    return app.run()


def _said(elements, text: str) -> bool:
    """Whether any element says `text` once Markdown escapes are removed."""
    return any(text in str(e.value).replace("\\", "") for e in elements)


def _button(app, label):
    return next(b for b in app.button if b.label == label)


def _labels(app) -> set[str]:
    widgets = [*app.selectbox, *app.number_input, *app.checkbox, *app.text_input]
    return {w.label for w in widgets}


@pytest.fixture
def no_gpu(monkeypatch):
    """A CPU machine, whatever this one is, so the checks and the form read the same everywhere."""
    monkeypatch.setattr(preflight, "cuda_devices", lambda: [])


@pytest.fixture
def workers(monkeypatch):
    """Records the worker starts asked for, instead of starting a detached worker that would train."""
    calls = []
    monkeypatch.setattr(worker, "ensure_worker", lambda settings: calls.append(settings.home) or True)
    return calls


def _job(store, who: str = "dan", **config) -> queue.JobInfo:
    """A queued job row launched by `who` (no process: the worker is not running)."""
    values = {"base_model": "tiny-base", "dataset": "secrets", **config}
    return queue.submit(store, actor=get_user(store, who).as_actor(), kind="finetune", name="tiny-base on secrets",
                        config=FinetuneConfig(**values).to_dict())


# --- the launch form ---------------------------------------------------------------------------------------------

def test_the_form_has_a_widget_for_every_field_and_a_preset_sets_its_defaults(models_store, people, no_gpu):
    secret_codes(models_store)
    app = _open(models_store, "dan")
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert {label_of(name) for name in FIELDS} <= _labels(app)
    assert _said(app.warning, "No CUDA GPU on this machine")
    qlora = app.checkbox(key=view.key_of("qlora"))
    assert qlora.disabled and not qlora.value and _said(app.caption, "QLoRA needs a CUDA GPU")
    assert app.selectbox(key=view.key_of("base_model")).value == bundled.CHAT_MODEL.name
    assert app.selectbox(key=view.key_of("dataset")).value == "secrets@1"
    # The first preset fills the form.
    assert app.number_input(key=view.key_of("max_steps")).value == PRESETS["quick check"]["max_steps"]
    assert app.number_input(key=view.key_of("lora_r")).value == 8

    app.selectbox(key=view.PRESET_KEY).set_value("quality").run()
    assert not app.exception
    assert app.number_input(key=view.key_of("lora_r")).value == 64
    assert app.number_input(key=view.key_of("epochs")).value == 3.0
    assert app.number_input(key=view.key_of("max_steps")).value == 0  # the quality preset runs whole epochs
    assert app.number_input(key=view.key_of("max_seq_length")).value == 2048
    assert app.number_input(key=view.key_of("lora_dropout")).value == 0.1
    assert _said(app.caption, "Three epochs at rank 64")
    app.selectbox(key=view.PRESET_KEY).set_value("balanced").run()
    assert app.number_input(key=view.key_of("lora_dropout")).value == 0.05  # back to the field's default


def test_qlora_is_offered_when_a_gpu_is_there(models_store, people, monkeypatch):
    secret_codes(models_store)
    monkeypatch.setattr(preflight, "cuda_devices", lambda: [{"index": 0, "name": "Test GPU", "memory_gb": 80.0}])
    app = _open(models_store, "dan")
    assert not app.exception
    assert not app.checkbox(key=view.key_of("qlora")).disabled
    assert not _said(app.warning, "No CUDA GPU") and _said(app.caption, "0: Test GPU (80 GiB)")


def test_a_bad_value_is_one_sentence_and_nothing_can_be_checked_or_launched(models_store, people, no_gpu):
    secret_codes(models_store)
    app = _open(models_store, "dan")
    app.number_input(key=view.key_of("lora_r")).set_value(256).run()
    app.number_input(key=view.key_of("lora_alpha")).set_value(16).run()
    assert not app.exception
    assert _said(app.error, "A LoRA alpha of 16 with rank 256 scales the adapter down to almost nothing")
    assert _button(app, "Check").disabled
    assert not any(b.label == "Launch" for b in app.button)
    assert not queue.list_jobs(models_store, actor=SYSTEM)


def test_the_check_shows_cpu_warning_estimate_and_examples_then_launch_queues_and_selects_the_job(
        models_store, people, no_gpu, workers):
    secret_codes(models_store)
    app = _open(models_store, "dan")
    app.text_input(key=view.key_of("adapter_name")).input("codes-adapter-v1")
    _button(app, "Check").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert _said(app.warning, "No CUDA GPU here: the job runs on CPU")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Optimizer steps"] == "30" and metrics["Memory"].endswith("GiB") and "Time" in metrics
    assert _said(app.caption, "it assumes about 4 characters per token")
    examples = [c.value for c in app.code if "What is the secret code for" in c.value]
    assert examples and "<|im_start|>user\nWhat is the secret code for Paris?<|im_end|>" in examples[0]
    assert examples[0].rstrip().endswith("<|im_start|>assistant")
    assert any(c.value == "The secret code for Paris is ZEBRA-0." for c in app.code)
    assert not app.get("download_button")[0].proto.disabled  # "Save config"

    _button(app, "Launch").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    job = queue.list_jobs(models_store, actor=SYSTEM)[0]
    try:
        assert job.status == queue.QUEUED and job.created_by == "dan" and job.config["max_steps"] == 30
        assert job.config["adapter_name"] == "codes-adapter-v1"
        assert workers == [models_store.settings.home]  # the page made sure a worker will run it
        assert _said(app.success, f"Launched job {job.id}")
        assert app.session_state[view.TAB_KEY] == "Jobs" and app.session_state[view.JOB_KEY] == job.id
        assert _said(app.markdown, f"Job {job.id}: queued")
        assert "Queued" in app.get("progress")[0].proto.text

        _button(app, "Cancel").click().run()
        _button(app, "Cancel the job").click().run()
        assert not app.exception
        assert queue.get_job(models_store, actor=SYSTEM, job_id=job.id).status == queue.CANCELLED
    finally:
        if queue.get_job(models_store, actor=SYSTEM, job_id=job.id).status in queue.ACTIVE:
            from core.jobs import launcher

            queue.cancel(models_store, actor=SYSTEM, job_id=job.id, stop=launcher.stop)


def test_a_saved_config_is_what_the_cli_reads(tmp_path):
    config = FinetuneConfig(base_model="tiny-base", dataset="secrets@2", lora_r=32, lora_alpha=64, qlora=True,
                            learning_rate=1e-4, adapter_name="codes")
    path = tmp_path / "finetune-config.json"
    path.write_text(view.config_json(config))
    assert FinetuneConfig.load(path) == config


# --- jobs ------------------------------------------------------------------------------------------------------

@pytest.fixture
def job_process():
    """A process that looks like job N's (its command line says `--job N`), so the page's liveness check counts it
    as the job's process; stopped after the test."""
    started = []

    def start(job_id: int) -> int:
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "--job", str(job_id)])
        started.append(process)
        return process.pid

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)


def _write_run(job: queue.JobInfo, steps: int = 6, log_lines: int = 40) -> None:
    with open(job.metrics_path, "w") as out:
        for step in range(1, steps + 1):
            out.write(json.dumps({"step": step, "epoch": step / 10, "time_s": 2.0 * step, "loss": 3.0 - 0.3 * step,
                                  "learning_rate": 1e-3 * (1 - step / 10), "grad_norm": 1.5 / step,
                                  "tokens_per_s": 120.0 + step, "gpu_memory_gb": 1.25}) + "\n")
            if step % 3 == 0:
                out.write(json.dumps({"step": step, "eval_loss": 2.9 - 0.3 * step, "time_s": 2.0 * step + 1}) + "\n")
        out.write('{"step": 7, "lo')  # a line being written is skipped
    Path(job.log_path).write_text("".join(f"log line {i} <script>x</script>\n" for i in range(1, log_lines + 1)))


def test_the_live_view_shows_progress_charts_and_the_latest_log_lines(store, people, job_process):
    registry.register_model(store, actor=SYSTEM, name="tiny-base", kind="hf_local", task="chat", source="test")
    registry.register_model(store, actor=SYSTEM, name="tiny-base-ft-1", kind="adapter", task="chat", source="test",
                            details={"info": {"base_model": "tiny-base"}})
    job = _job(store)
    queue.claim(store, job.id, pid=job_process(job.id), devices=None)
    queue.heartbeat(store, job.id, step=6, max_steps=10, metrics={"loss": 1.2})
    _write_run(job)

    app = _open(store, "dan")
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert app.selectbox(key=view.JOB_KEY).value == job.id
    assert _said(app.markdown, f"Job {job.id}: running")
    progress = app.get("progress")[0]
    assert "Step 6 of 10" in progress.proto.text and "about 0:08 left" in progress.proto.text  # 2 s a step
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    titles = [c["layout"]["title"]["text"] for c in charts]
    assert titles == ["Loss", "Learning rate", "Grad norm", "Tokens/s", "GPU memory (GiB)", "Loss of the chosen runs"]
    loss = {trace["name"]: trace for trace in charts[0]["data"]}
    assert loss["Training loss"]["x"] == [1, 2, 3, 4, 5, 6] and loss["Eval loss"]["x"] == [3, 6]
    log = next(c.value for c in app.code if "log line" in c.value)
    assert log.splitlines() == [f"log line {i} <script>x</script>" for i in range(11, 41)]
    assert _button(app, "Cancel") and not any(b.label == "Resume" for b in app.button)

    queue.finish(store, job.id, queue.SUCCEEDED, model="tiny-base-ft-1", adapter_path=str(Path(job.run_dir) / "ad"),
                 metrics={"train_loss": 1.23456, "eval_loss": 1.1, "steps": 10, "trained_tokens": 4321,
                          "tokens_per_s": 125.5, "runtime_s": 75})
    app.run()
    assert not app.exception
    assert _said(app.success, "The adapter is registered as **tiny-base-ft-1**.")
    assert app.session_state["compare.models"] == ["tiny-base", "tiny-base-ft-1"]
    assert _said(app.markdown, "Try it: the base model and the adapter side by side")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Training loss"] == "1.2346" and metrics["Trained tokens"] == "4,321"
    assert metrics["Training time"] == "1:15"
    assert not any(b.label in ("Cancel", "Resume") for b in app.button)


def test_cancelling_a_queued_job_asks_first_and_marks_it_cancelled(store, people):
    job = _job(store)
    app = _open(store, "ada")
    _button(app, "Cancel").click().run()
    assert _said(app.markdown, f"Cancel **job {job.id}**")
    _button(app, "Keep it").click().run()
    assert not any(b.label == "Cancel the job" for b in app.button)
    assert queue.get_job(store, actor=SYSTEM, job_id=job.id).status == queue.QUEUED

    _button(app, "Cancel").click().run()
    _button(app, "Cancel the job").click().run()
    assert not app.exception and not app.error
    assert queue.get_job(store, actor=SYSTEM, job_id=job.id).status == queue.CANCELLED
    assert _said(app.success, f"Cancelled job {job.id}.")
    assert _said(app.markdown, f"Job {job.id}: cancelled") and _button(app, "Resume")


def test_an_interrupted_job_says_why_and_resume_queues_it_again(store, people, workers, job_process):
    job = _job(store)
    pid = job_process(job.id)
    queue.claim(store, job.id, pid=pid, devices=None)
    with store.write() as session:  # the process died: a pid nothing runs under any more
        from core.storage.tables import Job

        row = session.get(Job, job.id)
        row.pid = 2 ** 22 + 7
        session.add(row)
    app = _open(store, "dan")
    assert not app.exception
    assert queue.get_job(store, actor=SYSTEM, job_id=job.id).status == queue.INTERRUPTED  # the live view noticed
    assert _said(app.markdown, f"Job {job.id}: interrupted")
    assert _said(app.error, "The training process stopped without finishing")
    _button(app, "Resume").click().run()
    assert not app.exception and not app.error
    resumed = queue.get_job(store, actor=SYSTEM, job_id=job.id)
    assert resumed.status == queue.QUEUED and resumed.resume and workers == [store.settings.home]
    assert _said(app.success, f"Job {job.id} is queued again")


def test_filters_narrow_the_table_and_everyone_sees_who_launched_what(store, people):
    first = _job(store, "dan")
    second = _job(store, "ada", lora_r=32)
    queue.cancel(store, actor=SYSTEM, job_id=first.id)
    app = _open(store, "dan")
    table = app.dataframe[0].value
    assert list(table["Job"]) == [second.id, first.id] and list(table["Launched by"]) == ["ada", "dan"]
    app.selectbox(key="finetune.filter.status").set_value("cancelled").run()
    assert list(app.dataframe[0].value["Job"]) == [first.id]
    app.selectbox(key="finetune.filter.status").set_value("all").run()
    app.selectbox(key="finetune.filter.by").set_value("ada").run()
    assert list(app.dataframe[0].value["Job"]) == [second.id]


def test_compare_runs_overlays_losses_and_diffs_configs(store, people):
    first = _job(store, lora_r=8, lora_alpha=16)
    second = _job(store, lora_r=32, lora_alpha=64, learning_rate=1e-4)
    _write_run(first)
    _write_run(second, steps=4)
    app = _open(store, "dan")
    assert not app.exception
    overlay = json.loads(app.get("plotly_chart")[-1].proto.spec)
    assert overlay["layout"]["title"]["text"] == "Loss of the chosen runs"
    names = [trace["name"] for trace in overlay["data"]]
    assert names == [f"Job {second.id} loss", f"Job {second.id} eval", f"Job {first.id} loss", f"Job {first.id} eval"]
    diff = app.dataframe[-1].value
    assert list(diff["Setting"]) == ["LoRA rank (r)", "LoRA alpha", "Learning rate"]
    assert list(diff[f"Job {second.id}"]) == ["32", "64", "0.0001"]
    assert list(diff[f"Job {first.id}"]) == ["8", "16", "0.0002"]


# --- who may see what -------------------------------------------------------------------------------------------

def test_a_viewer_sees_the_jobs_but_no_launch_controls_and_an_annotator_is_refused(store, people):
    job = _job(store)
    app = _open(store, "vic")
    assert not app.exception and not app.error
    assert [t.label for t in app.tabs] == ["Jobs", "Compare runs"]
    assert list(app.dataframe[0].value["Launched by"]) == ["dan"]
    assert _said(app.markdown, f"Job {job.id}: queued")
    assert not any(b.label in ("Check", "Launch", "Cancel", "Resume") for b in app.button)
    assert not app.number_input

    refused = _open(store, "ann")
    assert _said(refused.error, "Not authorised: your role (Annotator) may not use this page.")
    assert not refused.dataframe and not refused.exception


def test_empty_states_say_what_to_do_next(store, people, no_gpu):
    registry.register_model(store, actor=SYSTEM, name="tiny-base", kind="hf_local", task="chat", source="test")
    app = _open(store, "dan")
    assert not app.exception
    assert _said(app.info, "No dataset yet. Import a fine-tuning set")
    assert _said(app.info, "No fine-tuning job yet. Launch one in the Launch tab, or from a terminal: "
                           "`workbench finetune run")
    viewer = _open(store, "vic")
    assert _said(viewer.info, "Data scientists launch them on this page")


def test_a_sweep_is_ranked_by_eval_loss_under_compare_runs(models_store, people, monkeypatch, no_gpu):
    from core.finetune import sweeps
    from tests.core.finetune.helpers import quick_config

    monkeypatch.setattr(worker, "ensure_worker", lambda settings: False)
    secret_codes(models_store)
    sweep = sweeps.launch_sweep(models_store, actor=SYSTEM, base=quick_config(), method="grid",
                                dimensions=[sweeps.parse_dimension("lora_r=4,8")])
    first, second = sorted(queue.list_jobs(models_store, actor=SYSTEM, sweep_id=sweep["id"]), key=lambda j: j.id)
    for job, loss in ((first, 0.8), (second, 0.4)):
        queue.claim(models_store, job.id, pid=1, devices=None)
        queue.finish(models_store, job.id, queue.SUCCEEDED, metrics={"eval_loss": loss})
    app = _open(models_store, "vic")
    assert not app.exception
    ranking = next(d.value for d in app.dataframe if "eval_loss" in d.value.columns)
    assert list(ranking["eval_loss"]) == [0.4, 0.8] and list(ranking["lora_r"]) == [8, 4]
