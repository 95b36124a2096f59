"""Reads what a model folder holds (architecture, size, context) from its files, without loading weights."""
from __future__ import annotations

import json
import struct
from pathlib import Path

from core.errors import InvalidInput


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


# --- checks made when a model is registered: each failure is one sentence naming the file -----------------

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.txt", "vocab.json")
GGUF_MAGIC = b"GGUF"


def read_json(file: Path) -> dict:
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{file} is not readable JSON ({type(exc).__name__}).") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{file} should hold a JSON object.")
    return value


def _weights_or_refuse(folder: Path, what: str, expected: str) -> list[Path]:
    """The safetensors files of `folder`; a sentence when it has none (or only pickled PyTorch weights)."""
    weights = sorted(folder.glob("*.safetensors"))
    if weights:
        return weights
    pickled = sorted(f.name for f in folder.iterdir() if f.suffix in PICKLE_SUFFIXES)
    if pickled:
        raise InvalidInput(f"{what} {folder} holds only PyTorch pickle weights ({', '.join(pickled[:3])}); the "
                           "workbench loads safetensors only, because pickle files can run code when loaded.",
                           hint="Convert the weights to safetensors first (save_pretrained(..., safe_serialization=True)).")
    raise InvalidInput(f"{what} {folder} has no {expected} file.")


def check_hf_folder(path: str | Path) -> Path:
    """A Hugging Face model folder the workbench can load: config.json, safetensors weights, a tokenizer, and no
    custom code. Returns the absolute folder."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InvalidInput(f"The folder {folder} does not exist.")
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is a file, not a model folder; give the folder that holds config.json.")
    folder = folder.resolve()
    if not (folder / "config.json").is_file():
        raise InvalidInput(f"{folder} is not a Hugging Face model folder: it has no config.json.")
    config = read_json(folder / "config.json")
    _weights_or_refuse(folder, "The model folder", "*.safetensors weights")
    if config.get("auto_map"):
        raise InvalidInput(f"The model in {folder} needs its own Python code (auto_map in config.json), which the "
                           "workbench never runs.")
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise InvalidInput(f"The model folder {folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}).")
    return folder


def task_of(folder: Path) -> str:
    """'chat' for a causal language model, 'embedding' for an encoder; a sentence for anything else."""
    config = read_json(folder / "config.json")
    architectures = config.get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "chat"
    if (folder / "modules.json").is_file() or (folder / "sentence_bert_config.json").is_file() or \
            any(a.endswith("Model") for a in architectures):
        return "embedding"
    shown = ", ".join(architectures) or config.get("model_type") or "unknown"
    raise InvalidInput(f"The model in {folder} ({shown}) is neither a causal language model (chat) nor a "
                       "sentence-embedding encoder, the two tasks the workbench runs.")


def check_gguf_file(path: str | Path) -> Path:
    """An existing file that starts with the GGUF magic bytes. Returns the absolute file."""
    file = Path(path).expanduser()
    if not file.exists():
        raise InvalidInput(f"The file {file} does not exist.")
    if not file.is_file():
        raise InvalidInput(f"{file} is a folder; give the .gguf file itself.")
    with open(file, "rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        raise InvalidInput(f"{file} is not a GGUF file: it does not start with the bytes 'GGUF'.")
    return file.resolve()


def _safetensors_header(file: Path) -> dict:
    try:
        with open(file, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError("header too long")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise InvalidInput(f"{file} is not a readable safetensors file ({exc}).") from None
    header.pop("__metadata__", None)
    return header


def check_adapter_folder(path: str | Path) -> tuple[Path, dict]:
    """A PEFT folder: adapter_config.json and adapter_model.safetensors. Returns (absolute folder, config)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InvalidInput(f"The adapter folder {folder} does not exist." if not folder.exists() else
                           f"{folder} is a file; give the adapter folder that holds adapter_config.json.")
    folder = folder.resolve()
    if not (folder / "adapter_config.json").is_file():
        raise InvalidInput(f"{folder} is not a PEFT adapter folder: it has no adapter_config.json.")
    config = read_json(folder / "adapter_config.json")
    if not (folder / "adapter_model.safetensors").is_file():
        _weights_or_refuse(folder, "The adapter folder", "adapter_model.safetensors")
        raise InvalidInput(f"The adapter folder {folder} has no adapter_model.safetensors file.")
    if config.get("peft_type") != "LORA":
        raise InvalidInput(f"The adapter in {folder} is of type {config.get('peft_type')!r}; the workbench registers "
                           "LoRA adapters (peft_type LORA) only.")
    library = str((config.get("auto_mapping") or {}).get("parent_library") or "transformers")
    if library != "transformers" and not library.startswith("transformers."):
        raise InvalidInput(f"The adapter in {folder} was made for a model class from {library}, which would need code "
                           "from outside transformers; the workbench never runs such code.")
    return folder, config


def check_adapter_fits(adapter: Path, base: Path, base_name: str) -> None:
    """Compares the adapter's LoRA matrices with the base's weight shapes, from the safetensors headers only."""
    base_shapes: dict[str, list[int]] = {}
    for file in sorted(base.glob("*.safetensors")):
        base_shapes.update({name: meta["shape"] for name, meta in _safetensors_header(file).items()})
    checked = 0
    for key, meta in _safetensors_header(adapter / "adapter_model.safetensors").items():
        for part, axis in ((".lora_A.weight", 1), (".lora_B.weight", 0)):
            if not key.endswith(part):
                continue
            module = key[: -len(part)]
            if module.startswith("base_model.model."):
                module = module[len("base_model.model."):]
            target = next((c for c in (f"{module}.weight", f"model.{module}.weight", module.split(".", 1)[-1] + ".weight")
                           if c in base_shapes), None)
            if target is None:
                continue
            checked += 1
            # (out, in) for Linear; GPT-2 style Conv1D stores (in, out), so either orientation may hold the size.
            if len(base_shapes[target]) != 2 or meta["shape"][axis] not in base_shapes[target]:
                raise InvalidInput(f"The adapter in {adapter} does not fit '{base_name}': its layer {module} expects "
                                   f"size {meta['shape'][axis]}, the base has {base_shapes[target]}.")
    if base_shapes and checked == 0:
        raise InvalidInput(f"The adapter in {adapter} does not fit '{base_name}': none of its layers exist in that model.")
