"""Preference tuning (DPO): rows in TRL's conversational form or as text, the config's method, and one real DPO job
of the bundled model in a real job process (slow): chosen rewards rise above rejected, the adapter is registered
with its lineage, and the answers move toward the chosen style."""
from pathlib import Path

import pandas as pd
import pytest

from core.data import versions
from core.errors import InvalidInput
from core.finetune import launch
from core.finetune.config import FinetuneConfig
from core.finetune.dpo import preference_rows
from core.finetune.train import read_metrics
from core.governance.roles import SYSTEM, Role
from core.jobs import queue, worker
from core.models import bundled, registry

QUESTIONS = ["How do I reset my password?", "Where is my order?", "Can I get a refund?", "How do I change my email?"]


def _pairs(store, name="prefs"):
    rows = [{"prompt": [{"role": "user", "content": q}],
             "chosen": [{"role": "assistant", "content": "Thanks for asking! Happy to help with that."}],
             "rejected": [{"role": "assistant", "content": "No."}]} for q in QUESTIONS]
    version, _ = versions.save_version(store, actor=SYSTEM, name=name, frame=pd.DataFrame(rows),
                                       transformation="import", source="prefs.jsonl")
    return version


def test_preference_rows_read_conversations_and_plain_text():
    frame = pd.DataFrame([{"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away."},
                          {"prompt": [{"role": "user", "content": "Hey"}],
                           "chosen": [{"role": "assistant", "content": "Hi there"}],
                           "rejected": [{"role": "assistant", "content": "What"}]}])
    rows = preference_rows(frame)
    assert rows[0] == {"prompt": [{"role": "user", "content": "Hi?"}],
                       "chosen": [{"role": "assistant", "content": "Hello!"}],
                       "rejected": [{"role": "assistant", "content": "Go away."}]}
    assert rows[1]["chosen"] == [{"role": "assistant", "content": "Hi there"}]
    with pytest.raises(InvalidInput, match="lacks rejected"):
        preference_rows(pd.DataFrame({"prompt": ["a"], "chosen": ["b"]}))
    with pytest.raises(InvalidInput, match="Row 1 is not a preference pair"):
        preference_rows(pd.DataFrame({"prompt": [3], "chosen": ["b"], "rejected": ["c"]}))


def test_the_method_is_sft_or_dpo():
    assert FinetuneConfig(base_model="m", dataset="d").method == "sft"
    with pytest.raises(InvalidInput, match="must be one of sft, dpo"):
        FinetuneConfig(base_model="m", dataset="d", method="ppo")


def test_a_dpo_job_on_conversations_is_stopped_before_it_starts(models_store, people):
    frame = pd.DataFrame({"prompt": ["q"], "completion": ["a"]})
    versions.save_version(models_store, actor=SYSTEM, name="sft-only", frame=frame, transformation="import",
                          source="x.jsonl")
    config = FinetuneConfig(base_model=bundled.CHAT_MODEL.name, dataset="sft-only", method="dpo")
    with pytest.raises(InvalidInput, match="prompt, chosen and rejected"):
        launch.launch(models_store, actor=people[Role.DATA_SCIENTIST].as_actor(), config=config, start_worker=False)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # four steps of a real model in a job process: minutes on a busy 2-core machine
def test_a_dpo_job_raises_chosen_rewards_above_rejected_and_registers_its_adapter(models_store, people):
    _pairs(models_store)
    dan = people[Role.DATA_SCIENTIST].as_actor()
    config = FinetuneConfig(base_model=bundled.CHAT_MODEL.name, dataset="prefs", method="dpo", max_steps=4,
                            learning_rate=5e-4, batch_size=4, lora_r=8, lora_alpha=16, max_seq_length=64,
                            save_steps=10, eval_steps=0, warmup_ratio=0.0, validation_share=0.0)
    job = launch.launch(models_store, actor=dan, config=config, start_worker=False)
    assert worker.run_worker(models_store, poll_s=0.3, exit_when_idle=True) == 0
    done = queue.get_job(models_store, actor=dan, job_id=job.id)
    assert done.status == queue.SUCCEEDED, (done.error, done.log_path.read_text()[-3000:])
    rows = [r for r in read_metrics(done.run_dir) if "reward_margin" in r]
    assert len(rows) >= 3
    assert rows[-1]["reward_chosen"] > rows[-1]["reward_rejected"]
    assert rows[-1]["reward_margin"] > rows[0]["reward_margin"] and rows[-1]["reward_accuracy"] == 1.0
    model = registry.get_model(models_store, actor=dan, name=done.model)
    assert model.kind == "adapter" and model.base_model == bundled.CHAT_MODEL.name
    assert model.info["method"] == "dpo" and model.info["dataset_version"] == "prefs@1"
    assert model.info["train_examples"] == 4 and (Path(done.adapter_path) / "adapter_model.safetensors").exists()
