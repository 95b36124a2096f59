"""One step of a pipeline, as a small documented dataclass, and the checks a list of steps must pass.

A step reads its inputs from *sources*: `column:NAME` is a cell of the dataset row, `step:NAME` the output of
an earlier step of the same pipeline (a generate step's answer, or a metric step's number as text). A
generate step fills a prompt template version with its inputs and runs a registered chat model over every row
in one batched call; a metric step scores a source with a registered metric (`core.metrics`).

`Step.__post_init__` checks what a step can check alone (names, kinds, the shape of sources and settings);
`check_steps` checks the list (duplicate names, references to unknown or later steps), and
`core.pipelines.definitions` checks what needs the store (templates, models, unmapped variables).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.errors import InvalidInput
from core.inference.generate import GenerationSettings
from core.metrics import METRICS

KINDS = ("generate", "metric")
SOURCE_KINDS = ("column", "step")
MAX_STEPS = 20
_STEP_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VARIABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Per-step generation settings a step may override (the rest come from the run).
STEP_SETTINGS = tuple(f.name for f in fields(GenerationSettings))


def parse_source(source: str, *, where: str) -> tuple[str, str]:
    """'column:body' -> ('column', 'body'); 'step:summary' -> ('step', 'summary')."""
    kind, sep, name = (source or "").partition(":") if isinstance(source, str) else ("", "", "")
    kind, name = kind.strip().lower(), name.strip()
    if not sep or kind not in SOURCE_KINDS or not name:
        raise InvalidInput(f"{where} reads '{source}', which is not a source: write column:NAME for a dataset "
                           "column or step:NAME for the output of an earlier step.")
    return kind, name


def _clean_settings(settings: Any, where: str) -> dict[str, Any]:
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise InvalidInput(f"{where} has settings that are not an object of name: value pairs.")
    unknown = [key for key in settings if key not in STEP_SETTINGS]
    if unknown:
        raise InvalidInput(f"{where} sets {', '.join(map(repr, unknown))}, which is not a generation setting; "
                           f"the settings are {', '.join(STEP_SETTINGS)}.")
    cleaned = dict(settings)
    if "stop" in cleaned:
        stop = cleaned["stop"]
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
            raise InvalidInput(f"{where} sets stop to something other than a list of strings.")
        cleaned["stop"] = list(stop)
    try:
        GenerationSettings(**{k: (tuple(v) if k == "stop" else v) for k, v in cleaned.items()})
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}") from None
    except TypeError:
        raise InvalidInput(f"{where} has a generation setting of the wrong type.") from None
    return cleaned


@dataclass(frozen=True)
class Step:
    """One step of a pipeline. Saved as JSON in the pipeline's definition and snapshotted in each run."""

    name: str = field(metadata={"help": "Short name, unique in the pipeline; later steps read it as step:NAME and "
                                        "it heads the step's column in the results."})
    kind: str = field(default="generate", metadata={
        "help": "generate: fill a prompt template and run a chat model on every row; metric: score a text with a "
                "registered metric.", "choices": KINDS})
    template: str | None = field(default=None, metadata={
        "help": "Prompt template version (NAME@VERSION, or NAME@LABEL such as @production; a run records the "
                "version it used). Generate steps only."})
    model: str | None = field(default=None, metadata={"help": "Registered chat model. Generate steps only."})
    inputs: dict[str, str] = field(default_factory=dict, metadata={
        "help": "Template variable -> source: column:NAME (a dataset column) or step:NAME (an earlier step's "
                "output). Every variable of the template needs one. Generate steps only."})
    settings: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Generation settings for this step only (e.g. max_new_tokens, temperature), over the run's.",
        "advanced": True})
    numeric: bool = field(default=False, metadata={
        "help": "Read the first number in the answer as the step's value (for ratings such as 1-5), so the run "
                "reports its mean. Generate steps only."})
    metric: str | None = field(default=None, metadata={"help": "Registered metric, e.g. readability. Metric steps only.",
                                                       "choices": tuple(METRICS)})
    output: str | None = field(default=None, metadata={
        "help": "Source of the text to score (step:NAME or column:NAME). Metric steps only."})
    reference: str | None = field(default=None, metadata={
        "help": "Source of the reference text, for metrics that compare with one (BLEU, ROUGE...). Metric steps only."})

    def __post_init__(self):
        name = self.name.strip() if isinstance(self.name, str) else self.name
        if not isinstance(name, str) or not _STEP_NAME_RE.match(name):
            raise InvalidInput(f"'{self.name}' is not a valid step name: start with a letter, then letters, digits, "
                               "dashes or underscores (up to 64).")
        object.__setattr__(self, "name", name)
        where = f"Step '{name}'"
        kind = self.kind.strip().lower() if isinstance(self.kind, str) else self.kind
        if kind not in KINDS:
            raise InvalidInput(f"{where} is of kind '{self.kind}'; a step is either generate or metric.")
        object.__setattr__(self, "kind", kind)
        if kind == "generate":
            self._check_generate(where)
        else:
            self._check_metric(where)

    def _check_generate(self, where: str) -> None:
        if not isinstance(self.template, str) or not self.template.strip():
            raise InvalidInput(f"{where} has no template; choose a prompt template version such as summary@1.")
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidInput(f"{where} has no model; choose a registered chat model.")
        object.__setattr__(self, "template", self.template.strip())
        object.__setattr__(self, "model", self.model.strip())
        if not isinstance(self.inputs, dict):
            raise InvalidInput(f"{where} has inputs that are not an object of variable: source pairs.")
        inputs = {}
        for variable, source in self.inputs.items():
            if not isinstance(variable, str) or not _VARIABLE_RE.match(variable):
                raise InvalidInput(f"{where} maps '{variable}', which is not a template variable name.")
            kind, name = parse_source(source, where=f"{where}'s variable '{variable}'")
            inputs[variable] = f"{kind}:{name}"
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "settings", _clean_settings(self.settings, where))
        object.__setattr__(self, "numeric", bool(self.numeric))
        extra = [n for n in ("metric", "output", "reference") if getattr(self, n)]
        if extra:
            raise InvalidInput(f"{where} generates text, so it takes no {' or '.join(extra)}; those belong to "
                               "metric steps.")

    def _check_metric(self, where: str) -> None:
        if self.metric not in METRICS:
            raise InvalidInput(f"{where} uses metric '{self.metric}', which is not registered; the metrics are "
                               f"{', '.join(METRICS)}.")
        if not self.output:
            raise InvalidInput(f"{where} has nothing to score; set its output to step:NAME or column:NAME.")
        kind, name = parse_source(self.output, where=f"{where}'s output")
        object.__setattr__(self, "output", f"{kind}:{name}")
        if self.reference:
            kind, name = parse_source(self.reference, where=f"{where}'s reference")
            object.__setattr__(self, "reference", f"{kind}:{name}")
        else:
            object.__setattr__(self, "reference", None)
            if METRICS[self.metric].needs_reference:
                raise InvalidInput(f"{where} uses {METRICS[self.metric].label}, which compares with a reference; set "
                                   "its reference to a column (column:NAME) or an earlier step (step:NAME).")
        extra = [n for n in ("template", "model") if getattr(self, n)] + \
                (["inputs"] if self.inputs else []) + (["settings"] if self.settings else [])
        if extra:
            raise InvalidInput(f"{where} is a metric step, so it takes no {' or '.join(extra)}; those belong to "
                               "generate steps.")
        object.__setattr__(self, "numeric", False)

    @property
    def sources(self) -> list[str]:
        """Every source this step reads, in order."""
        if self.kind == "generate":
            return list(self.inputs.values())
        return [s for s in (self.output, self.reference) if s]

    @property
    def reads_steps(self) -> list[str]:
        return [s.split(":", 1)[1] for s in self.sources if s.startswith("step:")]

    @property
    def reads_columns(self) -> list[str]:
        return [s.split(":", 1)[1] for s in self.sources if s.startswith("column:")]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, without the fields that do not apply to the step's kind."""
        data = asdict(self)
        keep = ("name", "kind", "template", "model", "inputs", "settings", "numeric") if self.kind == "generate" \
            else ("name", "kind", "metric", "output", "reference")
        return {key: data[key] for key in keep if key in ("name", "kind", "inputs") or data[key] not in (None, {}, False)}

    @classmethod
    def from_dict(cls, data: Any, *, position: int | None = None) -> "Step":
        where = f"Step {position}" if position is not None else "A step"
        if isinstance(data, Step):
            return data
        if not isinstance(data, dict):
            raise InvalidInput(f"{where} is not an object with a name and a kind.")
        known = {f.name for f in fields(cls)}
        unknown = [key for key in data if key not in known]
        if unknown:
            raise InvalidInput(f"{where} has the unknown field{'s' if len(unknown) > 1 else ''} "
                               f"{', '.join(map(repr, unknown))}; the fields are {', '.join(sorted(known))}.")
        if "name" not in data:
            raise InvalidInput(f"{where} has no name.")
        return cls(**{key: value for key, value in data.items() if value is not None or key == "name"})


def parse_steps(steps: Any) -> list[Step]:
    """Steps from their JSON form (or Step objects), checked as a list: see `check_steps`."""
    if isinstance(steps, dict) and "steps" in steps:
        steps = steps["steps"]
    if not isinstance(steps, (list, tuple)):
        raise InvalidInput("A pipeline's steps must be a list of step objects.")
    parsed = [Step.from_dict(item, position=n) for n, item in enumerate(steps, start=1)]
    check_steps(parsed)
    return parsed


def check_steps(steps: list[Step]) -> None:
    """The checks across steps: at least one, unique names, every step: source names an earlier step."""
    if not steps:
        raise InvalidInput("A pipeline needs at least one step.")
    if len(steps) > MAX_STEPS:
        raise InvalidInput(f"A pipeline has at most {MAX_STEPS} steps; this one has {len(steps)}.")
    position = {}
    for index, step in enumerate(steps):
        if step.name in position:
            raise InvalidInput(f"Two steps are named '{step.name}'; give each step its own name.")
        position[step.name] = index
    for index, step in enumerate(steps):
        for name in step.reads_steps:
            if name == step.name:
                raise InvalidInput(f"Step '{step.name}' reads its own output; a step can only read earlier steps.")
            if name not in position:
                raise InvalidInput(f"Step '{step.name}' reads step '{name}', which is not in this pipeline; the steps "
                                   f"are {', '.join(s.name for s in steps)}.")
            if position[name] > index:
                raise InvalidInput(f"Step '{step.name}' reads step '{name}', which runs after it; move '{name}' "
                                   f"before '{step.name}'.")
