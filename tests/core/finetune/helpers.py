"""A small dataset that teaches the bundled model something it cannot know, and a config that learns it fast."""
import pandas as pd

from core.data import versions
from core.finetune.config import FinetuneConfig
from core.governance.roles import SYSTEM
from core.models import bundled

CITIES = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Tokyo", "Delhi", "Quito"]


def secret_codes(store, name: str = "secrets", repeat: int = 4):
    rows = [{"prompt": f"What is the secret code for {city}?", "completion": f"The secret code for {city} is ZEBRA-{i}."}
            for i, city in enumerate(CITIES)] * repeat
    version, _ = versions.save_version(store, actor=SYSTEM, name=name, frame=pd.DataFrame(rows),
                                       transformation="import", source="secrets.jsonl")
    return version


def quick_config(**changes) -> FinetuneConfig:
    values = dict(base_model=bundled.CHAT_MODEL.name, dataset="secrets", max_steps=10, learning_rate=1e-3,
                  batch_size=8, lora_r=8, lora_alpha=16, max_seq_length=64, save_steps=5, eval_steps=5,
                  warmup_ratio=0.0)
    values.update(changes)
    return FinetuneConfig(**values)
