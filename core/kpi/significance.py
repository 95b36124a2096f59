"""Is a change real? Period over period, or deployment version A against B, with a test per KPI.

Rates (error rate, thumbs-up rate...) use a two-proportion z-test on the exact counts from SQL. KPIs of a per-event
value (latency percentiles and mean, cost per request, feedback score) use Mann-Whitney U on the events' values:
a shift of the whole distribution, read as evidence for a change of its percentiles too. Only those values are
read (one column), and above MAX_VALUES per side an evenly spaced sample of them (by row id); the sample sizes are
reported. Volumes (requests, tokens, users) get no test and never a marker.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sqlalchemy import func, select

from core.errors import InvalidInput
from core.governance.roles import Actor, Permission, require
from core.kpi import registry
from core.kpi.query import KpiFilter, aggregate, conditions
from core.storage.db import Store
from core.storage.tables import InferenceEvent as E

ALPHA = 0.01
MAX_VALUES = 50_000


@dataclass(frozen=True)
class KpiChange:
    kpi: str
    label: str
    a: float | None
    b: float | None
    change: float | None  # b - a
    relative: float | None  # b / a - 1
    test: str | None  # "two-proportion z-test", "Mann-Whitney U"
    p_value: float | None
    significant: bool
    n_a: int  # events (or values) each side's test used
    n_b: int
    verdict: str | None  # "better", "worse" (by the KPI's direction) or None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class KpiComparison:
    a_label: str
    b_label: str
    a: KpiFilter
    b: KpiFilter
    alpha: float
    changes: list[KpiChange]

    def to_dict(self) -> dict:
        return {"a_label": self.a_label, "b_label": self.b_label, "a": self.a.to_dict(), "b": self.b.to_dict(),
                "alpha": self.alpha, "changes": [c.to_dict() for c in self.changes]}

    def change(self, name: str) -> KpiChange:
        return next(c for c in self.changes if c.kpi == name)


def previous_period(filters: KpiFilter) -> KpiFilter:
    """The period of the same length just before `filters`' period."""
    if not (filters.since and filters.until):
        raise InvalidInput("Period-over-period needs a period with a start and an end.")
    return filters.replace(since=filters.since - (filters.until - filters.since), until=filters.since)


def two_proportion_test(x_a: int, n_a: int, x_b: int, n_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test; None without data on a side."""
    if not n_a or not n_b:
        return None
    pooled = (x_a + x_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (x_b / n_b - x_a / n_a) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _values(store: Store, filters: KpiFilter, test: registry.Distribution) -> list[float]:
    column = getattr(E, test.column)
    value = func.coalesce(column, test.fill) if test.fill is not None else column
    where = conditions(filters) if test.fill is not None else [*conditions(filters), column.is_not(None)]
    with store.read() as session:
        count = session.execute(select(func.count()).where(*where).select_from(E)).scalar() or 0
        query = select(value).where(*where)
        if count > MAX_VALUES:
            query = query.where(E.id % math.ceil(count / MAX_VALUES) == 0)
        return [float(v) for v in session.execute(query).scalars()]


def compare(store: Store, *, actor: Actor, a: KpiFilter, b: KpiFilter, kpis: list[str] | None = None,
            alpha: float = ALPHA, a_label: str = "A", b_label: str = "B") -> KpiComparison:
    """Each KPI on both sides, its change, and whether the change is significant at `alpha`."""
    require(actor, Permission.VIEW_DASHBOARDS)
    from scipy.stats import mannwhitneyu

    if not 0 < alpha < 1:
        raise InvalidInput("The significance level must be between 0 and 1, e.g. 0.01.")
    names = [registry.get_kpi(n).name for n in kpis] if kpis else list(registry.KPIS)
    from core.kpi import rollups

    sides = []
    for filters in (a, b):
        # Counts for the z-tests are exact either way; the rollups spare a scan (and sort) of the events.
        rows = rollups.aggregate(store, filters=filters, by=None, every=None) \
            if rollups.plan(filters, None) is not None else None
        if rows is None:
            rows = aggregate(store, filters=filters)
        sides.append(rows[0][1] if rows else None)
    values_cache: dict[tuple[int, registry.Distribution], list[float]] = {}
    changes = []
    for name in names:
        spec = registry.KPIS[name]
        value_a = spec.value(sides[0]) if sides[0] else None
        value_b = spec.value(sides[1]) if sides[1] else None
        change = value_b - value_a if value_a is not None and value_b is not None else None
        relative = (value_b / value_a - 1) if change is not None and value_a else None
        test, p_value, n_a, n_b = None, None, 0, 0
        if isinstance(spec.test, registry.Proportion) and sides[0] and sides[1]:
            test = "two-proportion z-test"
            x_a, n_a = sides[0][spec.test.successes], sides[0][spec.test.trials]
            x_b, n_b = sides[1][spec.test.successes], sides[1][spec.test.trials]
            p_value = two_proportion_test(x_a, n_a, x_b, n_b)
        elif isinstance(spec.test, registry.Distribution) and sides[0] and sides[1]:
            test = "Mann-Whitney U"
            samples = []
            for index, filters in enumerate((a, b)):
                key = (index, spec.test)
                if key not in values_cache:
                    values_cache[key] = _values(store, filters, spec.test)
                samples.append(values_cache[key])
            n_a, n_b = len(samples[0]), len(samples[1])
            if n_a and n_b:
                p_value = float(mannwhitneyu(samples[0], samples[1], alternative="two-sided").pvalue)
        significant = p_value is not None and p_value < alpha and change is not None and change != 0
        verdict = None
        if significant and spec.better:
            verdict = "better" if (change < 0) == (spec.better == "lower") else "worse"
        changes.append(KpiChange(kpi=name, label=spec.label, a=value_a, b=value_b, change=change, relative=relative,
                                 test=test, p_value=p_value, significant=significant, n_a=n_a, n_b=n_b,
                                 verdict=verdict))
    return KpiComparison(a_label=a_label, b_label=b_label, a=a, b=b, alpha=alpha, changes=changes)


def compare_periods(store: Store, *, actor: Actor, filters: KpiFilter, kpis: list[str] | None = None,
                    alpha: float = ALPHA) -> KpiComparison:
    """This period against the one just before it, with the same filters."""
    before = previous_period(filters)
    return compare(store, actor=actor, a=before, b=filters, kpis=kpis, alpha=alpha,
                   a_label="previous period", b_label="this period")


def compare_versions(store: Store, *, actor: Actor, filters: KpiFilter, deployment: str, version_a: int,
                     version_b: int, kpis: list[str] | None = None, alpha: float = ALPHA) -> KpiComparison:
    """A/B: two versions of one deployment over the same period and filters."""
    if version_a == version_b:
        raise InvalidInput("Choose two different deployment versions to compare.")
    base = filters.replace(deployment=deployment)
    return compare(store, actor=actor, a=base.replace(deployment_version=version_a),
                   b=base.replace(deployment_version=version_b), kpis=kpis, alpha=alpha,
                   a_label=f"{deployment} v{version_a}", b_label=f"{deployment} v{version_b}")
