"""The pre-flight time estimate: measured on this machine from the job's own steps, cached, and said so."""
import json

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
    evaluation = (3 + 1) * 3 * 0.5  # every 10 steps and at the end, 3 batches of 4 each
    saves = 3 * 3 * 0.2 + 0.2
    assert seconds == pytest.approx(startup + train + evaluation + saves)


@pytest.mark.slow
def test_preflight_measures_this_machine_once_and_says_how_the_estimate_was_made(models_store, tmp_path):
    import pandas as pd

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
