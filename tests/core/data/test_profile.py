"""Profiles: the numbers a data scientist reads, on small real frames, with the bundled tokenizer."""
import json

import numpy as np
import pandas as pd
import pytest

from core.data import profile, versions
from core.data.profile import ProfileOptions, profile_frame
from core.errors import InvalidInput, PermissionDenied
from core.governance.roles import SYSTEM, Actor, Role
from core.models import bundled


@pytest.fixture(scope="module")
def tokenizer_path(shared_models_dir):
    return str(bundled.store_path(shared_models_dir, bundled.CHAT_MODEL))


def _column(report, name):
    return next(c for c in report["columns"] if c["name"] == name)


def test_column_statistics_match_pandas():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(10, 2, 500), "team": rng.choice(["a", "b", "c"], 500),
                          "when": pd.date_range("2026-01-01", periods=500, freq="h").astype(str),
                          "mostly_missing": [1.0] * 50 + [None] * 450})
    report = profile_frame(frame)
    x = _column(report, "x")
    assert x["type"] == "numeric" and x["count"] == 500 and x["missing"] == 0
    assert x["numeric"]["mean"] == pytest.approx(frame["x"].mean())
    assert x["numeric"]["std"] == pytest.approx(frame["x"].std())
    assert x["numeric"]["p50"] == pytest.approx(frame["x"].median())
    assert sum(x["numeric"]["histogram"]["counts"]) == 500
    team = _column(report, "team")
    assert team["type"] == "categorical" and team["distinct"] == 3
    assert team["top"][0]["count"] == frame["team"].value_counts().iloc[0]
    assert _column(report, "when")["type"] == "datetime"
    missing = _column(report, "mostly_missing")
    assert missing["missing_share"] == 0.9
    codes = {(a["code"], a["column"]) for a in report["alerts"]}
    assert ("missing", "mostly_missing") in codes and ("constant", "mostly_missing") in codes


def test_text_statistics_tokens_truncation_duplicates_and_pii(tokenizer_path):
    long = "word " * 300
    texts = ["Please reset my password, it expired yesterday."] * 3 + [
        "Contact me at jane.doe@example.com about the refund.", long, "   ",
        "The invoice from March is missing the VAT number of our company.", None]
    frame = pd.DataFrame({"body": texts * 10})
    report = profile_frame(frame, options=ProfileOptions(max_length=64), tokenizer_path=tokenizer_path)
    body = _column(report, "body")
    assert body["type"] == "text"
    text = body["text"]
    assert text["empty_or_whitespace"] == 10
    # 70 present values, 5 distinct: everything after the first copy of each is an exact duplicate.
    assert text["exact_duplicates"] == 70 - 5
    assert text["tokens"]["truncated_share"] == pytest.approx(10 / 60)  # blanks are not sampled
    assert text["tokens"]["max"] >= 300
    assert [p["type"] for p in text["pii"]] == ["email"]
    assert body["missing"] == 10
    codes = [a["code"] for a in report["alerts"]]
    assert "pii_email" in codes and "duplicates" in codes and "truncated" in codes
    assert report["alerts"][0]["severity"] == "high"


def test_large_tables_sample_the_costly_statistics(tokenizer_path):
    frame = pd.DataFrame({"prompt": [f"question number {i} about shipping" for i in range(3000)]})
    report = profile_frame(frame, options=ProfileOptions(sample_rows=500), tokenizer_path=tokenizer_path)
    text = _column(report, "prompt")["text"]
    assert report["sampled"] and report["sample_rows"] == 500 and text["sample_rows"] == 500
    assert text["chars"]["max"] > 0 and text["exact_duplicates"] == 0  # exact statistics cover every row


def test_chat_readiness_and_training_text(tokenizer_path):
    good = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how can I help?"}]
    frame = pd.DataFrame({"messages": [good, good[:1], good]})
    report = profile_frame(frame, tokenizer_path=tokenizer_path)
    assert report["format"]["format"] == "chat" and report["format"]["issue_count"] == 1
    assert report["format"]["issues"][0]["row"] == 1
    assert report["training_text"]["tokens"]["max"] > 3
    assert any(a["code"] == "format" for a in report["alerts"])


def test_profiles_are_cached_per_version_and_options(models_store):
    frame = pd.DataFrame({"prompt": ["a question", "another question"], "completion": ["an answer", "one more"]})
    versions.save_version(models_store, actor=SYSTEM, name="qa", frame=frame, transformation="import", source="t")
    first = profile.profile_version(models_store, actor=SYSTEM, ref="qa")
    again = profile.profile_version(models_store, actor=SYSTEM, ref="qa")
    other = profile.profile_version(models_store, actor=SYSTEM, ref="qa", options=ProfileOptions(max_length=64))
    assert not first["cached"] and again["cached"] and not other["cached"]
    assert json.dumps(first["columns"]) == json.dumps(again["columns"])
    assert first["ref"] == "qa@1" and first["format"]["format"] == "prompt_completion"


def test_viewers_and_annotators_cannot_profile(models_store):
    versions.save_version(models_store, actor=SYSTEM, name="qa", frame=pd.DataFrame({"a": ["x"]}),
                          transformation="import", source="t")
    for role in (Role.VIEWER, Role.ANNOTATOR):
        with pytest.raises(PermissionDenied):
            profile.profile_version(models_store, actor=Actor("x", role), ref="qa")


def test_options_are_checked_with_sentences():
    with pytest.raises(InvalidInput, match="max length must be between 8 and 131,072 tokens"):
        ProfileOptions(max_length=2)
    with pytest.raises(InvalidInput, match="between 0.3 and 0.99"):
        ProfileOptions(near_duplicate_threshold=1.5)
