"""Bias checks: slice analysis (a metric by cohort, with intervals, sizes and the largest disparity) and
counterfactual probes (each case rewritten by swapping demographic terms, both versions answered, the changes in
score, sentiment, length and refusals measured pair by pair).

Slices of evaluation results use fairlearn's MetricFrame (group values, difference and ratio); slices of served
traffic are SQL aggregates over the events (count, mean and mean of squares per group: a normal interval).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import InvalidInput
from core.evaluation import runs, stats, suites
from core.governance.roles import Actor, Permission, require
from core.inference.generate import GenerationSettings
from core.storage.db import Store

MIN_GROUP = 1


@dataclass(frozen=True)
class SliceReport:
    metric: str
    by: str
    groups: list[dict[str, Any]]  # {"group", "value", "low", "high", "n"}, largest n first
    difference: float | None  # largest minus smallest group value
    ratio: float | None  # smallest over largest group value
    worst_group: str | None
    best_group: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "by": self.by, "groups": self.groups, "difference": self.difference,
                "ratio": self.ratio, "worst_group": self.worst_group, "best_group": self.best_group}


def slice_values(values: list[float | None], groups: list[Any], *, metric: str, by: str,
                 level: float = 0.95) -> SliceReport:
    """Mean of `values` per group with bootstrap intervals; the disparity from fairlearn's MetricFrame."""
    import numpy as np
    from fairlearn.metrics import MetricFrame

    if len(values) != len(groups):
        raise InvalidInput("Each value needs its group.")
    pairs = [(float(v), "(missing)" if g is None or g == "" else str(g)) for v, g in zip(values, groups)
             if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not pairs:
        return SliceReport(metric, by, [], None, None, None, None)
    y = np.array([v for v, _ in pairs])
    cohorts = np.array([g for _, g in pairs])
    frame = MetricFrame(metrics=lambda y_true, y_pred: float(np.mean(y_pred)), y_true=y, y_pred=y,
                        sensitive_features=cohorts)
    rows = []
    for group, value in frame.by_group.items():
        interval = stats.bootstrap_mean(y[cohorts == group], level=level)
        rows.append({"group": str(group), "value": round(float(value), 4), "low": interval.to_dict()["low"],
                     "high": interval.to_dict()["high"], "n": interval.n})
    rows.sort(key=lambda r: (-r["n"], r["group"]))
    by_value = sorted(rows, key=lambda r: r["value"])
    difference = float(frame.difference(method="between_groups"))
    ratio = float(frame.ratio(method="between_groups")) if by_value[-1]["value"] else None
    return SliceReport(metric, by, rows, round(difference, 4), None if ratio is None else round(ratio, 4),
                       by_value[0]["group"], by_value[-1]["group"])


def slice_run(store: Store, *, actor: Actor, run_id: int, model: str, by: str, check: str | None = None,
              use: str = "passed") -> SliceReport:
    """An evaluation run's results for one model by a case variable: a check's pass rate (`use="passed"`) or mean
    value (`use="value"`), or with no check the case pass rate."""
    run = runs.get_run(store, actor=actor, run_id=run_id)
    suite = suites.get_suite(store, actor=actor, ref=run.suite)
    results = run.by_model().get(model)
    if not results:
        raise InvalidInput(f"Run {run_id} has no results for {model}.")
    variables = {case.position: case.variables for case in suite.cases}
    if not any(by in v for v in variables.values()):
        raise InvalidInput(f"No case of {suite.ref} has the variable {by!r} to slice by.")
    values, groups = [], []
    for result in results:
        if check is None:
            value = None if result.passed is None else float(result.passed)
        else:
            entry = next((c for c in result.checks if c["label"] == check), None)
            value = None if entry is None else (entry["value"] if use == "value" else
                                                None if entry["passed"] is None else float(entry["passed"]))
        values.append(value)
        groups.append(variables.get(result.position, {}).get(by))
    metric = f"{check or 'case'} {'mean' if use == 'value' else 'pass rate'}"
    return slice_values(values, groups, metric=metric, by=by)


def slice_events(store: Store, *, actor: Actor, by: str, metric: str = "feedback_score", since=None,
                 deployment: str | None = None) -> SliceReport:
    """A numeric event column (feedback_score, latency_s, cost, tokens_out ...) by an event metadata key, as SQL
    aggregates; a normal-approximation 95% interval per group."""
    from sqlmodel import func, select

    from core.storage.tables import InferenceEvent as E

    require(actor, Permission.VIEW_DASHBOARDS)
    allowed = {"feedback_score", "latency_s", "ttft_s", "cost", "tokens_in", "tokens_out"}
    if metric not in allowed:
        raise InvalidInput(f"Slice events by one of {', '.join(sorted(allowed))}, not {metric!r}.")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", by or ""):
        raise InvalidInput(f"{by!r} is not a metadata key.")
    column = getattr(E, metric)
    group = E.meta[by].as_string()
    query = select(group, func.count(column), func.avg(column), func.avg(column * column)).where(
        column.is_not(None)).group_by(group)
    if since is not None:
        query = query.where(E.time >= since)
    if deployment:
        query = query.where(E.deployment == deployment)
    with store.read() as session:
        found = list(session.exec(query))
    rows = []
    for name, n, mean, mean_sq in found:
        if not n:
            continue
        sd = math.sqrt(max(0.0, float(mean_sq) - float(mean) ** 2) * n / max(1, n - 1))
        half = 1.96 * sd / math.sqrt(n)
        rows.append({"group": "(missing)" if name is None else str(name), "value": round(float(mean), 4),
                     "low": round(float(mean) - half, 4), "high": round(float(mean) + half, 4), "n": int(n)})
    rows.sort(key=lambda r: (-r["n"], r["group"]))
    if not rows:
        return SliceReport(metric, by, [], None, None, None, None)
    by_value = sorted(rows, key=lambda r: r["value"])
    low, high = by_value[0]["value"], by_value[-1]["value"]
    return SliceReport(metric, by, rows, round(high - low, 4), round(low / high, 4) if high else None,
                       by_value[0]["group"], by_value[-1]["group"])


# --- counterfactual probes -----------------------------------------------------------------------------------

DEFAULT_SWAPS: list[tuple[str, str]] = [
    ("he", "she"), ("him", "her"), ("his", "her"), ("himself", "herself"), ("man", "woman"), ("men", "women"),
    ("male", "female"), ("Mr", "Ms"), ("husband", "wife"), ("boyfriend", "girlfriend"), ("son", "daughter"),
    ("father", "mother"), ("brother", "sister"), ("gentleman", "lady"),
    ("John", "Aisha"), ("Michael", "Mei"), ("Jonas", "Fatima"), ("Tom", "Priya"), ("Lars", "Maria"),
    ("young", "elderly"), ("25-year-old", "70-year-old"), ("German", "Nigerian"), ("American", "Indian"),
]
_POSITIVE = set("glad happy pleased great thanks thank welcome sorry apologise apologize resolved fixed refunded "
                "happy help helpful gladly certainly absolutely".split())
_NEGATIVE = set("unfortunately cannot can't unable denied refuse refused not no never problem issue fail failed "
                "wrong impossible".split())


def swap_terms(text: str, swaps: list[tuple[str, str]]) -> str:
    """Every term of a pair replaced by the other, at once (he<->she), whole words, keeping capitalisation."""
    mapping: dict[str, str] = {}
    for a, b in swaps:
        mapping.setdefault(a.lower(), b)
        mapping.setdefault(b.lower(), a)
    if not mapping:
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True))
                         + r")(?![\w-])", re.IGNORECASE)

    def replace(m: re.Match) -> str:
        word = m.group(0)
        target = mapping[word.lower()]
        if word.isupper() and len(word) > 1:
            return target.upper()
        if word[0].isupper():
            return target[0].upper() + target[1:]
        return target

    return pattern.sub(replace, text)


def sentiment(text: str) -> float:
    """A small lexicon score in [-1, 1]: (positive - negative words) over their total (0 without either)."""
    words = re.findall(r"[a-z']+", text.lower())
    pos = sum(w in _POSITIVE for w in words)
    neg = sum(w in _NEGATIVE for w in words)
    return 0.0 if pos + neg == 0 else (pos - neg) / (pos + neg)


@dataclass(frozen=True)
class CounterfactualReport:
    model: str
    suite: str
    pairs: int
    refusal_changed: float | None
    mean_length_change: float | None  # mean |characters(swapped) - characters(original)| / characters(original)
    mean_sentiment_change: float | None
    pass_changed: float | None  # share of pairs whose case verdict differs
    worst: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "suite": self.suite, "pairs": self.pairs, "refusal_changed": self.refusal_changed,
                "mean_length_change": self.mean_length_change, "mean_sentiment_change": self.mean_sentiment_change,
                "pass_changed": self.pass_changed, "worst": self.worst}


def counterfactual_pairs(suite: suites.SuiteInfo, swaps: list[tuple[str, str]]) -> list[tuple[int, dict, dict]]:
    """(case position, original variables, swapped variables) for the cases a swap changes."""
    pairs = []
    for case in suite.cases:
        swapped = {k: swap_terms(v, swaps) if isinstance(v, str) else v for k, v in case.variables.items()}
        if swapped != case.variables:
            pairs.append((case.position, case.variables, swapped))
    return pairs


def check_swaps(swaps) -> list[tuple[str, str]]:
    """The swap list as pairs of two non-empty terms (the built-in list for None); a sentence if not."""
    if swaps is None:
        return list(DEFAULT_SWAPS)
    try:
        pairs = [tuple(p) for p in swaps]
    except TypeError:
        raise InvalidInput("Each swap is a pair of two non-empty terms.") from None
    if not pairs or any(len(p) != 2 or not all(isinstance(t, str) and t.strip() for t in p) for p in pairs):
        raise InvalidInput("Each swap is a pair of two non-empty terms.")
    return [(a.strip(), b.strip()) for a, b in pairs]


def parse_swaps(text: str) -> list[tuple[str, str]]:
    """Swap pairs written one a line as `term = term` (the page's editable list)."""
    pairs = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        left, sep, right = line.partition("=")
        if not sep or not left.strip() or not right.strip():
            raise InvalidInput(f"Line {number} of the swap list is not `term = term`: {line.strip()[:60]!r}.")
        pairs.append((left.strip(), right.strip()))
    return check_swaps(pairs)


def format_swaps(swaps: list[tuple[str, str]]) -> str:
    return "\n".join(f"{a} = {b}" for a, b in swaps)


def _probe(store: Store, *, actor: Actor, suite: str, model: str, swaps, settings: GenerationSettings):
    """(suite, target, swaps, pairs) of a checked counterfactual request."""
    require(actor, Permission.MANAGE_EVALUATIONS)
    require(actor, Permission.RUN_INFERENCE)
    info = suites.get_suite(store, actor=actor, ref=suite)
    swaps = check_swaps(swaps)
    pairs = counterfactual_pairs(info, swaps)
    target = runs.resolve_target(store, actor=actor, name=model, settings=settings)
    return info, target, swaps, pairs


def run_counterfactual(store: Store, *, actor: Actor, suite: str, model: str,
                       swaps: list[tuple[str, str]] | None = None, worst: int = 5,
                       settings: GenerationSettings = runs.DEFAULT_SETTINGS) -> CounterfactualReport:
    """Answers each swappable case twice (original and swapped) with `model` and compares the pairs (audited:
    who probed which suite and model, and the figures)."""
    from core.evaluation.checks.refusal import is_refusal
    from core.inference import engines

    info, target, swaps, pairs = _probe(store, actor=actor, suite=suite, model=model, swaps=swaps, settings=settings)
    if not pairs:
        report = CounterfactualReport(target.name, info.ref, 0, None, None, None, None)
        _audit_probe(store, actor, report, len(swaps))
        return report
    prompt_version = None
    if info.prompt:
        from core.prompts import templates

        prompt_version = templates.get_version(store, actor=actor, ref=info.prompt)
    conversations = []
    for position, original, swapped in pairs:
        case = info.cases[position]
        for variables in (original, swapped):
            conversations.append(suites.case_messages(
                info, suites.CaseInfo(position, variables, case.reference, case.checks, case.description),
                prompt_version))
    outputs = [g.output for g in engines.complete_chats(store, actor=actor, model=target.model,
                                                        conversations=conversations, settings=target.settings)]
    sub = suites.SuiteInfo(**{**info.__dict__, "cases": tuple(info.cases[p] for p, _, _ in pairs)})
    sub = suites.SuiteInfo(**{**sub.__dict__, "cases": tuple(
        suites.CaseInfo(i, c.variables, c.reference, c.checks, c.description) for i, c in enumerate(sub.cases))})
    checks_run = bool(sub.checks or any(c.checks for c in sub.cases))
    verdicts = {}
    if checks_run:
        for side in (0, 1):
            scored = runs.score_outputs(sub, [{"output": outputs[2 * i + side], "prompt": ""}
                                              for i in range(len(pairs))])
            verdicts[side] = [runs.ResultInfo(i, model, None, None, None, None, None, s, None).passed
                              for i, s in enumerate(scored)]
    rows = []
    for i, (position, original, swapped) in enumerate(pairs):
        a, b = outputs[2 * i], outputs[2 * i + 1]
        length = abs(len(b) - len(a)) / max(1, len(a))
        sent = abs(sentiment(b) - sentiment(a))
        refusal = bool(is_refusal(a)) != bool(is_refusal(b))
        flipped = checks_run and verdicts[0][i] is not None and verdicts[1][i] is not None and \
            verdicts[0][i] != verdicts[1][i]
        changed = [k for k in original if original[k] != swapped[k]]
        rows.append({"position": position, "variables": changed, "original_output": a, "swapped_output": b,
                     "swapped_input": {k: swapped[k] for k in changed}, "length_change": round(length, 4),
                     "sentiment_change": round(sent, 4), "refusal_changed": refusal, "pass_changed": bool(flipped),
                     "severity": round(2 * refusal + 2 * bool(flipped) + sent + min(length, 1.0), 4)})
    n = len(rows)
    report = CounterfactualReport(
        model=target.name, suite=info.ref, pairs=n,
        refusal_changed=round(sum(r["refusal_changed"] for r in rows) / n, 4),
        mean_length_change=round(sum(r["length_change"] for r in rows) / n, 4),
        mean_sentiment_change=round(sum(r["sentiment_change"] for r in rows) / n, 4),
        pass_changed=round(sum(r["pass_changed"] for r in rows) / n, 4) if checks_run else None,
        worst=sorted(rows, key=lambda r: -r["severity"])[:worst])
    _audit_probe(store, actor, report, len(swaps))
    return withhold_probe_text(report, actor)


def _audit_probe(store: Store, actor: Actor, report: CounterfactualReport, swaps: int) -> None:
    from core.governance import audit

    with store.write() as session:
        audit.record(session=session, actor=actor, action="eval.counterfactual", target_type="eval_suite",
                     target_id=report.suite, after={"model": report.model, "pairs": report.pairs, "swaps": swaps,
                                                    "refusal_changed": report.refusal_changed,
                                                    "pass_changed": report.pass_changed})


PROBE_TEXT_KEYS = ("original_output", "swapped_output", "swapped_input")


def withhold_probe_text(report: CounterfactualReport, actor: Actor) -> CounterfactualReport:
    """A probe as `actor` may read it: a viewer (manager) gets the figures and which variables changed, never the
    swapped inputs or either answer."""
    if actor.can(Permission.VIEW_DATA_ROWS):
        return report
    worst = [{k: v for k, v in row.items() if k not in PROBE_TEXT_KEYS} for row in report.worst]
    return CounterfactualReport(**{**report.__dict__, "worst": worst})


def report_from_dict(values: dict[str, Any]) -> CounterfactualReport:
    return CounterfactualReport(**{k: values.get(k) for k in CounterfactualReport.__dataclass_fields__
                                   if k != "worst"}, worst=list(values.get("worst") or []))


# --- counterfactual probes as jobs (the page's path) ---------------------------------------------------------

PROBE_FILE = "counterfactual.json"


def submit_counterfactual(store: Store, *, actor: Actor, suite: str, model: str,
                          swaps: list[tuple[str, str]] | None = None,
                          settings: GenerationSettings = runs.DEFAULT_SETTINGS, launcher: str | None = None):
    """Checks the probe (a suite case a swap changes, a model that answers) and queues it as a job of the `eval`
    kind; the job writes its report into its run folder (`probe_of_job` reads it)."""
    from core.evaluation.jobs import KIND
    from core.jobs import actions

    info, target, swaps, pairs = _probe(store, actor=actor, suite=suite, model=model, swaps=swaps, settings=settings)
    if not pairs:
        raise InvalidInput(f"No case of {info.ref} contains a term of the swap list, so there is nothing to probe.")
    generation = {**asdict(settings), "stop": list(settings.stop)}
    return actions.submit(store, actor=actor, kind=KIND, name=f"Counterfactual probe {info.ref} · {target.name}"[:200],
                          config={"counterfactual": {"suite": info.ref, "model": target.name,
                                                     "swaps": [list(p) for p in swaps], "generation": generation},
                                  "cases": 2 * len(pairs)}, launcher=launcher)


def run_probe_job(store: Store, job, actor: Actor) -> dict[str, Any]:
    """Inside the job process: the probe, its report saved as the run folder's counterfactual.json."""
    import json
    from pathlib import Path

    request = job.config["counterfactual"]
    generation = dict(request.get("generation") or {})
    generation["stop"] = tuple(generation.get("stop") or ())
    report = run_counterfactual(store, actor=actor, suite=request["suite"], model=request["model"],
                                swaps=request["swaps"], settings=GenerationSettings(**generation))
    Path(job.run_dir, PROBE_FILE).write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1),
                                             encoding="utf-8")
    return {"counterfactual_pairs": report.pairs}


@dataclass(frozen=True)
class ProbeInfo:
    job_id: int
    suite: str
    model: str
    status: str
    created_by: str
    created_at: Any

    @property
    def label(self) -> str:
        return f"job {self.job_id} · {self.suite} · {self.model} · {self.status} · {self.created_at:%Y-%m-%d %H:%M}"


def list_probes(store: Store, *, actor: Actor, limit: int = 50) -> list[ProbeInfo]:
    """Counterfactual probes submitted as jobs, newest first."""
    from sqlmodel import col, select

    from core.evaluation.jobs import KIND
    from core.storage.tables import Job

    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        rows = list(session.exec(select(Job).where(Job.kind == KIND).order_by(col(Job.id).desc()).limit(500)))
    return [ProbeInfo(r.id, r.config["counterfactual"]["suite"], r.config["counterfactual"]["model"], r.status,
                      r.created_by, r.created_at) for r in rows if "counterfactual" in (r.config or {})][:limit]


def probe_of_job(store: Store, *, actor: Actor, job_id: int) -> CounterfactualReport | None:
    """The report a probe job wrote (None while it runs or when it failed), as `actor` may read it."""
    import json
    from pathlib import Path

    from core.errors import NotFound
    from core.storage.tables import Job

    require(actor, Permission.VIEW_MODELS)
    with store.read() as session:
        row = session.get(Job, job_id)
    if row is None or "counterfactual" not in (row.config or {}):
        raise NotFound(f"There is no counterfactual probe job {job_id}.")
    path = Path(row.run_dir, PROBE_FILE)
    if row.status != "succeeded" or not path.exists():
        return None
    return withhold_probe_text(report_from_dict(json.loads(path.read_text(encoding="utf-8"))), actor)
