"""Prompt injection and jailbreak attempts: known attack phrasings (instructions to ignore or reveal the system
prompt, role-play without rules, fake system messages), encoded payloads (base64 or hex that decodes to such text,
or long decodable blobs), and, with `embedding: true`, similarity to a small bundled set of attack examples
(all-MiniLM-L6-v2, at or above `threshold`, default 0.75). Flag or block."""
from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.guardrails.base import Finding, Guard

ATTACKS_FILE = Path(__file__).parent / "data" / "attacks.txt"

_PHRASES = [
    r"\b(?:ignore|disregard|forget|skip|override|bypass)\b[^.\n]{0,40}?\b(?:previous|prior|above|earlier|preceding|"
    r"initial|original|all|any|your|the|these)\b[^.\n]{0,25}?\b(?:instructions?|rules|prompts?|directions|guidelines|"
    r"polic(?:y|ies)|constraints|restrictions|context|messages?)\b",
    r"\b(?:forget|ignore|disregard)\s+(?:everything|all)\b[^.\n]{0,30}\b(?:told|said|given|above|before)\b",
    r"\b(?:reveal|print|show|output|repeat|display|tell me|give me|leak|dump|spell out|what(?:'s| is| are))\b[^.\n]{0,30}?"
    r"\b(?:system|hidden|secret|initial|original|developer)\s+(?:prompt|instructions?|message|rules)\b",
    r"\brepeat\b[^.\n]{0,20}\b(?:text|words|everything)\s+above\b",
    r"\b(?:you are|you're|act as|pretend (?:to be|you are)|roleplay as|behave like)\b[^.\n]{0,60}?"
    r"\b(?:no|without|free of|unfiltered|uncensored)\b[^.\n]{0,20}?\b(?:rules|restrictions|limits|limitations|filters?|"
    r"guidelines|polic(?:y|ies)|censorship|morals|ethics)\b",
    r"\bDAN\b|\bdo anything now\b|\bdeveloper mode\b|\bjail ?break(?:ing)?\b|\bgod mode\b|\bunfiltered (?:ai|mode)\b",
    r"^\s*(?:#{2,}\s*)?(?:system|assistant)\s*(?:override|prompt|message)?\s*:", r"<\|(?:im_start|im_end|system|endoftext)\|>",
    r"\[/?(?:INST|SYS)\]|<</?SYS>>",
    r"\bnew (?:instructions|rules|system prompt)\b\s*[:\-]",
    r"\b(?:safety|content) (?:rules|filters?|policy|guidelines)\b[^.\n]{0,30}\b(?:do not|don't|no longer) apply\b",
    r"\b(?:decode|base64|rot13|hex)\b[^.\n]{0,40}\b(?:follow|execute|obey|run|do what)\b",
]
PHRASES = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.IGNORECASE | re.MULTILINE)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"\b(?:[0-9a-fA-F]{2}[\s:]?){16,}\b")


def _decoded(blob: str, kind: str) -> str | None:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True) if kind == "base64" else \
            binascii.unhexlify(re.sub(r"[\s:]", "", blob))
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    return text if text and printable / len(text) > 0.9 else None


def _heuristics(text: str) -> list[Finding]:
    found = [Finding(m.start(), m.end(), "known attack phrasing") for m in PHRASES.finditer(text)]
    for kind, pattern in (("base64", _BASE64), ("hex", _HEX)):
        for m in pattern.finditer(text):
            decoded = _decoded(m.group(0), kind)
            if decoded is None:
                continue
            if PHRASES.search(decoded):
                found.append(Finding(m.start(), m.end(), f"{kind} payload hiding an attack phrasing"))
            elif len(decoded.split()) >= 4:
                found.append(Finding(m.start(), m.end(), f"{kind}-encoded text"))
    return found


@lru_cache(maxsize=1)
def attack_examples() -> tuple[str, ...]:
    lines = ATTACKS_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=2)
def _attack_vectors(models_dir: str):
    from core.evaluation.embedding import bundled_encoder

    return bundled_encoder(Path(models_dir))(list(attack_examples()))


def similarity(text: str, models_dir: Path) -> float:
    """Highest cosine similarity of the text with the bundled attack examples."""
    from core.evaluation.embedding import bundled_encoder

    vector = bundled_encoder(models_dir)([text[:2000]])[0]
    return float((_attack_vectors(str(models_dir)) @ vector).max())


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    found = _heuristics(text)
    if not found and params.get("embedding") and params.get("_models_dir"):
        threshold = float(params.get("threshold", 0.75))
        score = similarity(text, Path(params["_models_dir"]))
        if score >= threshold:
            found.append(Finding(0, len(text), f"similar to a known attack ({score:.2f})"))
    return found


GUARD = Guard("injection", "Prompt injection / jailbreak", __doc__, detect, actions=("flag", "block"),
              stages=("input",), uses_embeddings=True)
