"""Reads what a model folder holds (architecture, size, context) from its files, without loading weights."""
from __future__ import annotations

import json
import struct
from pathlib import Path


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def count_parameters(path: Path) -> int | None:
    """Sums tensor sizes from the safetensors headers (8-byte length, then JSON); no tensor is read."""
    total, found = 0, False
    for file in sorted(path.glob("*.safetensors")):
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            found = True
            count = 1
            for dim in meta["shape"]:
                count *= dim
            total += count
    return total if found else None


def describe_folder(path: Path) -> dict:
    """architecture, parameters, size_bytes, context_length and has_chat_template of a Hugging Face folder."""
    config_file = path / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    tokenizer_config_file = path / "tokenizer_config.json"
    tokenizer_config = json.loads(tokenizer_config_file.read_text()) if tokenizer_config_file.exists() else {}
    architectures = config.get("architectures") or []
    return {
        "architecture": architectures[0] if architectures else config.get("model_type"),
        "parameters": count_parameters(path),
        "size_bytes": folder_size(path),
        "context_length": config.get("max_position_embeddings") or config.get("n_positions"),
        "has_chat_template": (path / "chat_template.jinja").exists() or bool(tokenizer_config.get("chat_template")),
        "info": {key: value for key, value in {
            "model_type": config.get("model_type"),
            "hidden_size": config.get("hidden_size"),
            "num_layers": config.get("num_hidden_layers"),
            "vocab_size": config.get("vocab_size"),
            "dtype": config.get("torch_dtype") or config.get("dtype"),
        }.items() if value is not None},
    }
