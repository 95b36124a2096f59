"""Sweeps: many fine-tunes over a search space, ranked by evaluation loss.

grid    every combination of the listed values, all queued at once;
random  `trials` seeded draws, all queued at once;
optuna  Optuna's TPE sampler, in waves: the worker keeps `parallel` trials in flight and asks TPE for the next
        one with every finished trial's eval loss told, so later trials learn from earlier ones.
A sweep is its definition (runs/sweeps/ID.json) plus the jobs tagged with its id; nothing else holds state.
"""
from __future__ import annotations

import itertools
import json
import math
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, NotFound
from core.finetune.config import FIELDS, FinetuneConfig
from core.governance import audit
from core.governance.roles import Actor, Permission, require
from core.jobs import queue
from core.storage.db import Store

METHODS = ("grid", "random", "optuna")
MAX_TRIALS = 64


@dataclass(frozen=True)
class Dimension:
    field: str
    values: tuple | None = None  # a list to choose from
    low: float | None = None
    high: float | None = None
    log: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "values": list(self.values) if self.values is not None else None,
                "low": self.low, "high": self.high, "log": self.log}


def parse_dimension(text: str) -> Dimension:
    """'lora_r=8,16,32' (values) or 'learning_rate=1e-5:1e-3:log' (a range) -> Dimension."""
    name, sep, spec = (text or "").partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not spec.strip():
        raise InvalidInput(f"'{text}' is not a search dimension; write FIELD=V1,V2,... or FIELD=LOW:HIGH[:log].")
    if name not in FIELDS or name in ("base_model", "dataset", "eval_dataset", "adapter_name"):
        raise InvalidInput(f"'{name}' is not a setting a sweep can vary.")
    if ":" in spec:
        parts = spec.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise InvalidInput(f"'{spec}' is not a range; write LOW:HIGH or LOW:HIGH:log.")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise InvalidInput(f"The range of {name} must hold numbers, not '{spec}'.") from None
        return _checked(Dimension(name, low=low, high=high, log=log))
    return _checked(Dimension(name, values=tuple(v.strip() for v in spec.split(",") if v.strip())))


def _checked(dim: Dimension) -> Dimension:
    f = FIELDS[dim.field]
    if dim.values is not None:
        if not dim.values:
            raise InvalidInput(f"Give at least one value for {dim.field}.")
        for value in dim.values:  # each value must make a valid config on its own
            FinetuneConfig.from_dict({"base_model": "m", "dataset": "d", dim.field: value})
        return dim
    if f.type not in ("int", "float"):
        raise InvalidInput(f"{dim.field} is not a number; list its values instead of a range.")
    if not dim.low < dim.high:
        raise InvalidInput(f"The range of {dim.field} must go from a lower to a higher value.")
    if dim.log and dim.low <= 0:
        raise InvalidInput(f"A log range of {dim.field} must start above zero.")
    for value in (dim.low, dim.high):
        FinetuneConfig.from_dict({"base_model": "m", "dataset": "d",
                                  dim.field: int(value) if f.type == "int" else value})
    return dim


def _draw(dim: Dimension, rng: random.Random) -> Any:
    if dim.values is not None:
        return rng.choice(dim.values)
    if dim.log:
        value = math.exp(rng.uniform(math.log(dim.low), math.log(dim.high)))
    else:
        value = rng.uniform(dim.low, dim.high)
    return int(round(value)) if FIELDS[dim.field].type == "int" else float(f"{value:.4g}")


def _path(store: Store, sweep_id: str) -> Path:
    return store.settings.runs_dir / "sweeps" / f"{sweep_id}.json"


def launch_sweep(store: Store, *, actor: Actor, base: FinetuneConfig, dimensions: list[Dimension], method: str,
                 trials: int = 8, parallel: int = 2, seed: int = 0) -> dict[str, Any]:
    """Queues the sweep's jobs (grid, random) or its first wave (optuna); returns the sweep definition."""
    from core.finetune import preflight
    from core.jobs import worker

    require(actor, Permission.LAUNCH_JOBS)
    if method not in METHODS:
        raise InvalidInput(f"'{method}' is not a sweep method; choose one of {', '.join(METHODS)}.")
    if not dimensions:
        raise InvalidInput("A sweep needs at least one setting to vary.")
    if len({d.field for d in dimensions}) != len(dimensions):
        raise InvalidInput("Each setting can be varied only once in a sweep.")
    if method == "grid":
        if any(d.values is None for d in dimensions):
            raise InvalidInput("A grid sweep lists values for every setting (FIELD=V1,V2); ranges need random or optuna.")
        combos = [dict(zip([d.field for d in dimensions], c)) for c in itertools.product(*[d.values for d in dimensions])]
    else:
        if not 1 <= trials <= MAX_TRIALS:
            raise InvalidInput(f"The number of trials must be between 1 and {MAX_TRIALS}.")
        rng = random.Random(seed)
        combos = [{d.field: _draw(d, rng) for d in dimensions} for _ in range(trials)] if method == "random" else []
    if len(combos) > MAX_TRIALS:
        raise InvalidInput(f"The grid has {len(combos)} combinations; the limit is {MAX_TRIALS}.")
    for combo in combos:
        base.with_changes(**combo)  # every trial's config is valid before anything is queued
    checks = preflight.run(store, actor=actor, config=base)
    errors = [c.message for c in checks.checks if c.level == "error"]
    if errors:
        raise InvalidInput(" ".join(errors))
    sweep_id = f"sw-{secrets.token_hex(4)}"
    definition = {"id": sweep_id, "method": method, "trials": len(combos) if combos else trials,
                  "parallel": max(1, parallel), "seed": seed, "base": base.to_dict(),
                  "dimensions": [d.to_dict() for d in dimensions], "created_by": actor.name}
    path = _path(store, sweep_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(definition, indent=2))
    with store.write() as session:
        audit.record(session=session, actor=actor, action="sweep.launch", target_type="sweep", target_id=sweep_id,
                     after={k: definition[k] for k in ("method", "trials", "parallel", "dimensions")})
    for n, combo in enumerate(combos, start=1):
        _submit_trial(store, actor, base, combo, sweep_id, n)
    if method == "optuna":
        advance(store, sweep_id)
    worker.ensure_worker(store.settings)
    return definition


def _submit_trial(store: Store, actor: Actor, base: FinetuneConfig, params: dict[str, Any], sweep_id: str,
                  number: int) -> queue.JobInfo:
    config = base.with_changes(**params)
    if not config.adapter_name:
        config = config.with_changes(adapter_name=f"{config.base_model}-{sweep_id}-t{number}")
    label = ", ".join(f"{k}={v}" for k, v in params.items())
    from core.jobs.worker import gpu_count

    return queue.submit(store, actor=actor, kind="finetune", name=f"{sweep_id} #{number}: {label}"[:200],
                        config=config.to_dict(), gpus=min(config.gpus, gpu_count()), sweep_id=sweep_id)


def load(store: Store, sweep_id: str) -> dict[str, Any]:
    path = _path(store, sweep_id)
    if not path.exists():
        raise NotFound(f"There is no sweep {sweep_id}.")
    return json.loads(path.read_text())


def _params(job: queue.JobInfo, dimensions: list[dict]) -> dict[str, Any]:
    return {d["field"]: job.config.get(d["field"]) for d in dimensions}


def advance(store: Store, sweep_id: str) -> int:
    """Optuna sweeps: tells TPE every finished trial, asks for new ones up to `parallel` in flight; returns how
    many were queued. Called by the worker on every tick; a no-op for grid and random sweeps."""
    definition = load(store, sweep_id)
    if definition["method"] != "optuna":
        return 0
    import optuna

    from core.governance.roles import Role

    jobs = queue.list_jobs(store, actor=Actor(name="system", role=Role.ADMIN), sweep_id=sweep_id)
    active = sum(1 for j in jobs if j.status in queue.ACTIVE)
    room = min(definition["parallel"] - active, definition["trials"] - len(jobs))
    if room <= 0:
        return 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = {}
    for d in definition["dimensions"]:
        f = FIELDS[d["field"]]
        if d["values"] is not None:
            distributions[d["field"]] = optuna.distributions.CategoricalDistribution(d["values"])
        elif f.type == "int":
            distributions[d["field"]] = optuna.distributions.IntDistribution(int(d["low"]), int(d["high"]), log=d["log"])
        else:
            distributions[d["field"]] = optuna.distributions.FloatDistribution(d["low"], d["high"], log=d["log"])
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=definition["seed"] + len(jobs),
                                                                   n_startup_trials=max(2, definition["parallel"])))
    for job in jobs:
        value = job.metrics.get("eval_loss", job.metrics.get("train_loss")) if job.status == queue.SUCCEEDED else None
        params = {k: _categorical_value(distributions[k], v) for k, v in _params(job, definition["dimensions"]).items()}
        state = optuna.trial.TrialState.COMPLETE if value is not None else optuna.trial.TrialState.FAIL
        try:
            study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                      value=value if value is not None else None, state=state))
        except ValueError:
            continue  # a value outside the space (edited definition): leave it out of the model
    actor = queue.actor_named(store, definition["created_by"])
    base = FinetuneConfig.from_dict(definition["base"])
    for n in range(room):
        trial = study.ask(distributions)
        _submit_trial(store, actor, base, dict(trial.params), sweep_id, len(jobs) + n + 1)
    return room


def _categorical_value(distribution, value):
    import optuna

    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        # Values were given as text on the command line; the config holds them typed.
        for choice in distribution.choices:
            if str(choice) == str(value) or _same_number(choice, value):
                return choice
    return value


def _same_number(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def advance_all(store: Store) -> None:
    folder = store.settings.runs_dir / "sweeps"
    if not folder.is_dir():
        return
    for path in folder.glob("sw-*.json"):
        try:
            advance(store, path.stem)
        except Exception:  # noqa: BLE001 - one broken sweep must not stop the worker
            import logging

            logging.getLogger("workbench.worker").exception("sweep %s could not advance", path.stem)


def ranking(store: Store, *, actor: Actor, sweep_id: str) -> list[dict[str, Any]]:
    """The sweep's trials, best eval loss first (unfinished ones last)."""
    definition = load(store, sweep_id)
    jobs = queue.list_jobs(store, actor=actor, sweep_id=sweep_id)
    rows = []
    for job in jobs:
        loss = job.metrics.get("eval_loss")
        rows.append({"job": job.id, "status": job.status, **_params(job, definition["dimensions"]),
                     "eval_loss": loss, "train_loss": job.metrics.get("train_loss"), "model": job.model})
    return sorted(rows, key=lambda r: (r["eval_loss"] is None, r["eval_loss"] or 0.0, r["job"]))
