"""The KPIs: each one small function over the SQL aggregates of a set of events, registered with its label.

`core.kpi.query` computes the aggregates (`BASE`) in the database; a KPI turns them into one number. Counts, sums
and rates are exact; percentiles are exact too (PostgreSQL's percentile_cont, a window function on SQLite), the
same linear interpolation as numpy/pandas' default quantile.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import InvalidInput

# Aggregates the database computes for every set of events; KPIs read only these.
BASE = (
    "requests", "errors", "rate_limited", "tokens_in", "tokens_out", "cost", "cost_n", "feedback_count",
    "thumbs_up", "score_sum", "users", "applications", "guard_incidents", "latency_n", "latency_sum",
    "ttft_n", "ttft_sum",
)
# (event column, quantile) pairs computed exactly; their aggregate is named f"{column}_p{int(q*100)}".
PERCENTILES = {"latency_s": (0.5, 0.95, 0.99), "ttft_s": (0.5, 0.95)}


@dataclass(frozen=True)
class Proportion:
    """A rate tested with a two-proportion z-test: successes over trials, both aggregates."""

    successes: str
    trials: str


@dataclass(frozen=True)
class Distribution:
    """A KPI of a per-event value (latency, cost, score), tested with Mann-Whitney U on the events' values."""

    column: str
    fill: float | None = None  # the value of an event without one (cost: 0.0, so errors count as free calls)


@dataclass(frozen=True)
class Kpi:
    name: str
    label: str
    unit: str  # count, share, seconds, usd, tokens, score
    better: str | None  # "lower", "higher" or None (a volume: neither)
    help: str
    compute: Callable[[dict], float | None]
    test: Proportion | Distribution | None = None

    def value(self, aggregates: dict) -> float | None:
        return self.compute(aggregates)


KPIS: dict[str, Kpi] = {}


def kpi(name: str, label: str, *, unit: str, better: str | None, help: str,
        test: Proportion | Distribution | None = None):
    def register(function: Callable[[dict], float | None]):
        KPIS[name] = Kpi(name, label, unit, better, help, function, test)
        return function
    return register


def get_kpi(name: str) -> Kpi:
    try:
        return KPIS[name]
    except KeyError:
        raise InvalidInput(f"'{name}' is not a KPI; choose one of {', '.join(KPIS)}.") from None


def compute_all(aggregates: dict, names: list[str] | None = None) -> dict[str, float | None]:
    return {name: KPIS[name].value(aggregates) for name in (names or KPIS)}


def _ratio(numerator, denominator, scale: float = 1.0) -> float | None:
    if not denominator or numerator is None:
        return None
    return numerator / denominator * scale


@kpi("requests", "Requests", unit="count", better=None, help="Model calls logged, whatever their status.")
def requests(a):
    return a["requests"]


@kpi("errors", "Errors", unit="count", better="lower", help="Calls that ended with status 'error'.")
def errors(a):
    return a["errors"]


@kpi("error_rate", "Error rate", unit="share", better="lower", help="Errors over requests.",
     test=Proportion("errors", "requests"))
def error_rate(a):
    return _ratio(a["errors"], a["requests"])


@kpi("rate_limited", "Rate-limited", unit="count", better="lower", help="Calls refused by a rate limit.")
def rate_limited(a):
    return a["rate_limited"]


@kpi("rate_limited_rate", "Rate-limited share", unit="share", better="lower",
     help="Rate-limited calls over requests.", test=Proportion("rate_limited", "requests"))
def rate_limited_rate(a):
    return _ratio(a["rate_limited"], a["requests"])


def _percentile_kpi(column: str, q: float, label: str, help: str) -> None:
    key = f"{column}_p{int(round(q * 100))}"

    @kpi(f"{column.removesuffix('_s')}_p{int(round(q * 100))}_s", label, unit="seconds", better="lower", help=help,
         test=Distribution(column))
    def _percentile(a):
        return a.get(key)


for _q in PERCENTILES["latency_s"]:
    _percentile_kpi("latency_s", _q, f"Latency p{int(_q * 100)}",
                    f"The {int(_q * 100)}th percentile of end-to-end latency, exact.")


@kpi("latency_mean_s", "Mean latency", unit="seconds", better="lower", help="Mean end-to-end latency.",
     test=Distribution("latency_s"))
def latency_mean_s(a):
    return _ratio(a["latency_sum"], a["latency_n"])


for _q in PERCENTILES["ttft_s"]:
    _percentile_kpi("ttft_s", _q, f"Time to first token p{int(_q * 100)}",
                    f"The {int(_q * 100)}th percentile of the time to the first streamed token, exact.")


@kpi("tokens_in", "Tokens in", unit="tokens", better=None, help="Prompt tokens.")
def tokens_in(a):
    return a["tokens_in"]


@kpi("tokens_out", "Tokens out", unit="tokens", better=None, help="Generated tokens.")
def tokens_out(a):
    return a["tokens_out"]


@kpi("cost", "Cost (USD)", unit="usd", better=None, help="Sum of the events' cost from the price table.")
def cost(a):
    return a["cost"]


@kpi("cost_per_1k_requests", "Cost per 1,000 requests (USD)", unit="usd", better="lower",
     help="Cost over requests, times 1,000.", test=Distribution("cost", fill=0.0))
def cost_per_1k_requests(a):
    return _ratio(a["cost"], a["requests"], 1000.0)


@kpi("cost_per_user", "Cost per end user (USD)", unit="usd", better="lower",
     help="Cost over distinct end users (events without a user id count towards cost only).")
def cost_per_user(a):
    return _ratio(a["cost"], a["users"])


@kpi("feedback_count", "Feedback", unit="count", better=None, help="Events with end-user feedback.")
def feedback_count(a):
    return a["feedback_count"]


@kpi("thumbs_up_rate", "Thumbs-up rate", unit="share", better="higher",
     help="Share of end-user feedback scored 0.5 or more (a thumbs up is 1.0).",
     test=Proportion("thumbs_up", "feedback_count"))
def thumbs_up_rate(a):
    return _ratio(a["thumbs_up"], a["feedback_count"])


@kpi("mean_score", "Mean feedback score", unit="score", better="higher", help="Mean end-user feedback score.",
     test=Distribution("feedback_score"))
def mean_score(a):
    return _ratio(a["score_sum"], a["feedback_count"])


@kpi("users", "End users", unit="count", better=None, help="Distinct end users.")
def users(a):
    return a["users"]


@kpi("applications", "Applications", unit="count", better=None, help="Distinct applications (API keys).")
def applications(a):
    return a["applications"]


@kpi("guard_incident_rate", "Guardrail incident rate", unit="share", better="lower",
     help="Share of requests on which a guardrail fired.", test=Proportion("guard_incidents", "requests"))
def guard_incident_rate(a):
    return _ratio(a["guard_incidents"], a["requests"])
