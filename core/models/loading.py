"""Loads registered local models. Safetensors only, never remote code; heavy imports stay inside."""
from __future__ import annotations

from pathlib import Path

from core.errors import Unavailable


def _check_folder(path: str | Path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise Unavailable(f"The model folder {folder} is missing.", hint="Run `workbench init` to reinstall bundled models.")
    if not any(folder.glob("*.safetensors")):
        raise Unavailable(f"The model folder {folder} has no safetensors weights; the workbench loads no other format.")
    return folder


def load_causal_lm(path: str | Path):
    """Returns (model, tokenizer) in eval mode, with left padding for batched generation."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = _check_folder(path)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=False, use_safetensors=True)
    model.eval()
    return model, tokenizer


def load_embedding_model(path: str | Path):
    """Returns (model, tokenizer) of a sentence-embedding encoder."""
    from transformers import AutoModel, AutoTokenizer

    folder = _check_folder(path)
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    model = AutoModel.from_pretrained(folder, trust_remote_code=False, use_safetensors=True)
    model.eval()
    return model, tokenizer


def embed(texts: list[str], model, tokenizer, batch_size: int = 64):
    """Mean-pooled, L2-normalised sentence embeddings (the all-MiniLM-L6-v2 recipe) as a float32 numpy array."""
    import torch

    chunks = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
    return torch.cat(chunks).numpy() if chunks else torch.empty(0, 384).numpy()


def chat(model, tokenizer, messages: list[dict], max_new_tokens: int = 64) -> str:
    """One greedy chat reply (a smoke check of a chat model; batched generation is a separate module)."""
    import torch

    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
