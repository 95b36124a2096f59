"""The config checks itself in sentences; rows become examples whose labels cover only the assistant's words."""
import json

import pandas as pd
import pytest
from transformers import AutoTokenizer

from core.errors import InvalidInput
from core.finetune.config import FIELDS, PRESETS, FinetuneConfig, from_preset
from core.finetune.examples import IGNORE, prepare, resolve_format, tokenize_conversation
from core.models import bundled


@pytest.fixture(scope="module")
def tokenizer(shared_models_dir):
    return AutoTokenizer.from_pretrained(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))


def test_every_field_is_documented_and_presets_are_valid():
    assert all(f.metadata.get("help", "").endswith(".") for f in FIELDS.values())
    for preset in PRESETS:
        assert from_preset(preset, base_model="m", dataset="d").base_model == "m"


@pytest.mark.parametrize("values,message", [
    ({"lora_r": 0}, "The LoRA rank (r) must be between 1 and 256, not 0."),
    ({"learning_rate": "fast"}, "The learning rate must be a number, not 'fast'."),
    ({"batch_size": 2.5}, "The batch size must be a whole number, not 2.5."),
    ({"format": "csv"}, "The format must be one of auto, chat, prompt_completion, instruction_response, not 'csv'."),
    ({"qlora": "maybe"}, "The QLoRA (4-bit NF4) must be true or false, not 'maybe'."),
    ({"learning_rate": float("nan")}, "The learning rate must be a number"),
    ({"shiny": 1}, "Unknown fine-tuning setting(s): shiny."),
    ({"base_model": ""}, "Choose the base model to fine-tune."),
])
def test_bad_settings_are_one_sentence(values, message):
    with pytest.raises(InvalidInput) as caught:
        FinetuneConfig.from_dict({"base_model": "m", "dataset": "d", **values})
    assert caught.value.message.startswith(message)


def test_a_saved_config_round_trips(tmp_path):
    config = FinetuneConfig(base_model="m", dataset="d@2", lora_r=4, lora_alpha=8, qlora=True)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    assert FinetuneConfig.load(path) == config
    path.write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="must hold a JSON object"):
        FinetuneConfig.load(path)


def test_labels_cover_only_the_assistant_turns(tokenizer):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello there!"}, {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Goodbye."}]
    example = tokenize_conversation(tokenizer, messages, 512)
    learned = tokenizer.decode([t for t, label in zip(example.input_ids, example.labels) if label != IGNORE])
    assert learned.replace("<|im_end|>", "|").split("|")[:2] == ["Hello there!", "\nGoodbye."]
    assert "Be brief" not in learned and "Hi" not in learned and "Bye" not in learned.replace("Goodbye", "")
    cut = tokenize_conversation(tokenizer, messages, 8)
    assert len(cut.input_ids) == 8 == len(cut.labels)


def test_formats_are_detected_split_is_seeded_and_unusable_rows_are_skipped(tokenizer):
    frame = pd.DataFrame({"instruction": [f"Say {i}" for i in range(20)] + ["  "],
                          "response": [f"{i}" for i in range(20)] + ["x"]})
    config = FinetuneConfig(base_model="m", dataset="d", validation_share=0.2)
    data = prepare(tokenizer, frame, config)
    assert data.format == "instruction_response" and len(data.eval) == 4
    assert len(data.train) == 16 and data.skipped_rows == [20]
    again = prepare(tokenizer, frame, config)
    assert [e.input_ids for e in again.eval] == [e.input_ids for e in data.eval]
    chat = pd.DataFrame({"messages": [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]] * 3})
    assert prepare(tokenizer, chat, config).format == "chat"
    with pytest.raises(InvalidInput, match="preference pairs"):
        resolve_format(pd.DataFrame({"prompt": ["a"], "chosen": ["b"], "rejected": ["c"]}), config)
    with pytest.raises(InvalidInput, match="not recognised"):
        resolve_format(pd.DataFrame({"text": ["a"]}), config)
    with pytest.raises(InvalidInput, match="no column named 'reply'"):
        resolve_format(frame, FinetuneConfig(base_model="m", dataset="d", format="instruction_response",
                                             response_column="reply"))
