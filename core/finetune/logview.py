"""The lines of a fine-tune's log a person needs: steps, evaluations, checkpoints, the job's own messages, warnings
and errors that matter; without library FutureWarnings/DeprecationWarnings (and the source line Python prints under
each), progress bars, carriage-return redraws and terminal colour codes. The raw log stays where it is."""
from __future__ import annotations

import re
from dataclasses import dataclass

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# "/.../site-packages/transformers/x.py:12: FutureWarning: ..." (Python's warnings module format)
_PY_WARNING = re.compile(r"^\S+\.py:\d+: (\w+Warning): ")
_NOISE_WARNINGS = {"FutureWarning", "DeprecationWarning", "PendingDeprecationWarning"}
# tqdm-style bars: "Map: 100%|██████| 27/27 [00:00<00:00, 900 examples/s]", "  3%|▍  | 1/30 [00:02<01:10, ...]"
_PROGRESS = re.compile(r"\d+%\|[^|]*\|\s*\d+/\d+|\|[█▏▎▍▌▋▊▉ #]{3,}\|")
_BLANKISH = re.compile(r"^[\s\-=_.·]*$")


@dataclass(frozen=True)
class LogView:
    lines: list[str]  # what to show, oldest first
    hidden: int  # lines left out as noise

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _library_file(line: str) -> bool:
    return "site-packages" in line or "dist-packages" in line or "/lib/python" in line


def readable_lines(raw: str, *, last: int | None = 40) -> LogView:
    """The useful lines of `raw` (the last `last` of them; None: all)."""
    kept: list[str] = []
    hidden = 0
    skip_source_line = False
    for physical in raw.replace("\r\n", "\n").split("\n"):
        # A progress bar redraws itself with carriage returns: only its final state was ever visible.
        line = _ANSI.sub("", physical.rsplit("\r", 1)[-1]).rstrip()
        if skip_source_line:
            skip_source_line = False
            if line.startswith((" ", "\t")):  # the code line Python prints under a warning
                hidden += 1
                continue
        if not line or _BLANKISH.match(line):
            hidden += bool(physical.strip())
            continue
        warning = _PY_WARNING.match(line)
        if warning and warning.group(1) in _NOISE_WARNINGS and _library_file(line):
            hidden += 1
            skip_source_line = True
            continue
        if _PROGRESS.search(line):
            hidden += 1
            continue
        kept.append(line)
    if last is not None and len(kept) > last:
        kept = kept[-last:]
    return LogView(lines=kept, hidden=hidden)
