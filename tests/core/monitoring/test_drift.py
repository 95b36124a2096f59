"""Drift between datasets and event ranges: the right fields drift, the JSON shape, bad input in one sentence."""
import pandas as pd
import numpy as np
import pytest

from core.data.ingest import import_file
from core.errors import InvalidInput, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role
from core.monitoring import drift
from core.monitoring.sources import DatasetSource, EventSource, parse_source
from tests.core.monitoring.traffic import log_traffic


def _dataset(store, tmp_path, name, *, shifted, n=1500, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "prompt": [f"please help with my {'claim about the accident and damage' if shifted and i % 2 else 'invoice'} "
                   f"number {i}" for i in range(n)],
        "topic": rng.choice(["billing", "claims"], n, p=[0.3, 0.7] if shifted else [0.7, 0.3]),
        "latency_s": rng.gamma(2.0, 0.5, n),  # the same in both
    })
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    import_file(store, actor=SYSTEM, path=path, name=name)


def test_dataset_versions_drift_on_the_shifted_columns_only(store, tmp_path):
    _dataset(store, tmp_path, "train", shifted=False, seed=1)
    _dataset(store, tmp_path, "live", shifted=True, seed=2)
    report = drift.compare_sources(store, actor=SYSTEM, reference=parse_source("train"), current=parse_source("live@1"))
    verdicts = {f.field: f.drift_detected for f in report.fields}
    assert verdicts["topic"] and verdicts["prompt_chars"] and verdicts["prompt"]
    assert not verdicts["latency_s"]
    by_field = {f.field: f for f in report.fields}
    assert by_field["latency_s"].test == "wasserstein" and by_field["topic"].test == "jensenshannon"  # > 1000 rows
    assert by_field["topic"].reference_size == 1500
    data = report.to_json()
    assert set(data) == {"fields", "share_drifted"}
    assert set(data["fields"][0]) == {"field", "kind", "test", "statistic", "p_value", "threshold", "drift_detected",
                                      "reference_size", "current_size"}
    assert data["share_drifted"] == pytest.approx(sum(verdicts.values()) / len(verdicts))
    assert "'claims'" in report.summary


def test_chosen_fields_tests_and_thresholds_are_used(store, tmp_path):
    _dataset(store, tmp_path, "train", shifted=False, seed=1)
    _dataset(store, tmp_path, "live", shifted=True, seed=2)
    report = drift.compare_sources(store, actor=SYSTEM, reference=parse_source("train"), current=parse_source("live"),
                                   fields=["latency_s", "topic"], tests={"latency_s": "ks", "topic": "chisquare"},
                                   thresholds={"latency_s": 1e-12})
    assert [(f.field, f.test) for f in report.fields] == [("latency_s", "ks"), ("topic", "chisquare")]
    assert report.fields[0].threshold == 1e-12 and report.fields[0].p_value is not None
    with pytest.raises(InvalidInput, match="has no field 'colour'"):
        drift.compare_sources(store, actor=SYSTEM, reference=parse_source("train"), current=parse_source("live"),
                              fields=["colour"])
    with pytest.raises(InvalidInput, match="does not apply to categorical"):
        drift.compare_sources(store, actor=SYSTEM, reference=parse_source("train"), current=parse_source("live"),
                              fields=["topic"], tests={"topic": "ks"})


def test_event_ranges_compare_with_metadata_fields_and_filters(store):
    log_traffic(store)
    report = drift.compare_sources(store, actor=SYSTEM, reference=parse_source("events:2026-01-01..2026-01-05"),
                                   current=parse_source("events:2026-01-06..", where={"topic": "claims"}),
                                   fields=["prompt_chars", "latency_s", "thumbs_up", "error"])
    by_field = {f.field: f for f in report.fields}
    assert by_field["prompt_chars"].drift_detected and by_field["latency_s"].drift_detected
    assert not by_field["error"].drift_detected
    assert by_field["prompt_chars"].reference_size == 4 * 120
    assert by_field["prompt_chars"].current_size < 3 * 120 * 0.7  # only claims questions
    assert "prompts are" in by_field["prompt_chars"].change and "longer" in by_field["prompt_chars"].change


def test_parse_source_reads_datasets_and_event_ranges():
    assert parse_source("train@3") == DatasetSource("train@3")
    events = parse_source("events:2026-01-01..2026-02-10", where={"segment": "claims"}, deployment="bot")
    assert isinstance(events, EventSource) and events.since.isoformat() == "2026-01-01T00:00:00+00:00"
    assert events.until.day == 10 and events.where == {"segment": "claims"} and events.deployment == "bot"
    assert parse_source("events:2026-02-01..").until is None
    with pytest.raises(InvalidInput, match="ends before it starts"):
        parse_source("events:2026-02-10..2026-01-01")
    with pytest.raises(InvalidInput, match="not an event range"):
        parse_source("events:2026-01-01")
    with pytest.raises(InvalidInput, match="apply to events"):
        parse_source("train", where={"a": "b"})


def test_only_those_who_manage_monitors_run_ad_hoc_drift(store):
    with pytest.raises(PermissionDenied):
        drift.compare_sources(store, actor=Actor(name="vic", role=Role.VIEWER), reference=parse_source("events"),
                              current=parse_source("events"))


def test_a_dataset_reference_against_events_compares_the_fields_both_have(store, tmp_path):
    log_traffic(store, days=8, shift_day=5)
    rng = np.random.default_rng(5)  # seeded: not one of KS's 5% false alarms on the same distribution
    frame = pd.DataFrame({"prompt": [f"I have a billing question: invoice refund card {i}" for i in range(400)],
                          "latency_s": rng.gamma(2.0, 0.5, 400), "label": ["x"] * 400})
    frame.to_csv(tmp_path / "train.csv", index=False)
    import_file(store, actor=SYSTEM, path=tmp_path / "train.csv", name="train")
    report = drift.compare_sources(store, actor=SYSTEM, reference=parse_source("train"),
                                   current=parse_source("events:2026-01-01..2026-01-05"))
    by_field = {f.field: f for f in report.fields}
    assert {"latency_s", "prompt_chars", "prompt"} <= set(by_field) and "label" not in by_field
    assert not by_field["latency_s"].drift_detected and by_field["latency_s"].test == "ks"  # 400 reference rows
    assert by_field["prompt"].drift_detected  # the events ask about claims and logins too
