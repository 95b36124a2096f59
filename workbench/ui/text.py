"""Untrusted text (file names, column names, model output) shown inside Markdown-rendering elements."""
from __future__ import annotations

import string

_PUNCTUATION = set(string.punctuation)


def inert(text: object) -> str:
    """Backslash-escapes every ASCII punctuation mark, so Markdown, HTML, links, images, emoji shortcodes and
    Streamlit's :color[...] directives all show as the literal characters."""
    return "".join("\\" + ch if ch in _PUNCTUATION else ch for ch in str(text))
