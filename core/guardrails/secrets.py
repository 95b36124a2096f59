"""Secrets: API keys and tokens by their published shapes (OpenAI, Anthropic, AWS, GitHub, Slack, Google, Stripe,
Hugging Face, JWTs, bearer tokens, private key blocks, `api_key = ...` assignments)."""
import re
from typing import Any

from core.guardrails.base import Finding, Guard

PATTERNS = {
    "openai_key": r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}",
    "anthropic_key": r"\bsk-ant-[A-Za-z0-9_-]{20,}",
    "aws_access_key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "github_token": r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})",
    "slack_token": r"\bxox[abprs]-[A-Za-z0-9-]{10,}",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}",
    "stripe_key": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}",
    "huggingface_token": r"\bhf_[A-Za-z0-9]{30,}",
    "jwt": r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    "bearer_token": r"\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*",
    "private_key": r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)",
    "assigned_secret": r"(?i)\b(?:api[_-]?key|secret|token|password)\s*[:=]\s*['\"]?[A-Za-z0-9_\-/+]{16,}",
}
_COMPILED = [(name, re.compile(pattern)) for name, pattern in PATTERNS.items()]


def detect(text: str, params: dict[str, Any]) -> list[Finding]:
    found = []
    for name, pattern in _COMPILED:
        found += [Finding(m.start(), m.end(), name, "<SECRET>") for m in pattern.finditer(text)]
    return found


GUARD = Guard("secrets", "Secrets", __doc__, detect)
