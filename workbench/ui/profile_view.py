"""Draws a dataset profile (the dict core.data.profile returns). Values from the data go into tables only."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.ui import charts, tables
from workbench.ui.text import inert

# Plain words, not emoji: a browser without an emoji font draws those as empty boxes. Colour comes from the cell style.
SEVERITY_LABELS = {"high": "High", "medium": "Medium", "low": "Low"}
SEVERITY_COLOURS = {"High": "#c92a2a", "Medium": "#d9480f", "Low": "#1971c2"}
# st.metric cuts long values with an ellipsis, so the format metric shows a short name; the full one is its help.
FORMAT_SHORT = {"chat": "Chat", "prompt_completion": "Completion", "instruction_response": "Instruction",
                "preference": "Preference", "unknown": "None"}


def summary(report: dict) -> None:
    fmt = report["format"]
    alerts = report["alerts"]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rows", f"{report['rows']:,}", border=True)
    c2.metric("Columns", len(report["columns"]), border=True)
    c3.metric("Fine-tuning format", FORMAT_SHORT.get(fmt["format"], fmt["label"]),
              help=f"**{fmt['label']}**. {inert(fmt['explanation'])}", border=True)
    c4.metric("Alerts", len(alerts), help="high / medium / low: "
              + " / ".join(str(sum(a["severity"] == s for a in alerts)) for s in ("high", "medium", "low")), border=True)
    note = f"Profiled in {report['elapsed_s']:.1f} s" + (" (from the cache)" if report.get("cached") else "")
    if report["sampled"]:
        note += (f"; tokens, near-duplicates, languages and PII were measured on a random sample of "
                 f"{report['sample_rows']:,} rows, so their shares are estimates")
    st.caption(note + ".")


def alerts(report: dict) -> None:
    if not report["alerts"]:
        st.success("No alerts: nothing stands out in this dataset.")
        return
    frame = pd.DataFrame([{"Severity": SEVERITY_LABELS[a["severity"]], "Column": a["column"] or "(whole dataset)",
                           "Finding": a["message"]} for a in report["alerts"]])
    styled = frame.style.map(lambda label: f"color: {SEVERITY_COLOURS[label]}; font-weight: 600", subset=["Severity"])
    # A static table wraps long findings instead of cutting them off at the column's edge.
    st.table(styled.hide(axis="index"))


def columns_table(report: dict) -> None:
    tables.show([
        {"Column": c["name"], "Type": c["type"], "Count": f"{c['count']:,}", "Missing": f"{c['missing_share']:.1%}",
         "Distinct": f"{c['distinct']:,}" if isinstance(c.get("distinct"), int) else "",
         "Top values": ", ".join(f"{t['value'][:30]} ({t['count']:,})" for t in c.get("top", [])[:3])}
        for c in report["columns"]
    ])


def text_details(name: str, text: dict) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Median length", f"{text['chars'].get('p50', 0):.0f} chars")
    # Shares go in the value, not in a delta badge (which reads like a change over time).
    c2.metric("Exact duplicates", f"{text['exact_duplicates']:,} ({text['exact_duplicate_share']:.1%})",
              help="Rows whose text is the same as an earlier row's, and their share of all rows.")
    c3.metric("Near-duplicates", f"{text['near_duplicates']['rows']:,} ({text['near_duplicates']['share']:.1%})",
              help=f"Share of the {text['near_duplicates']['checked_rows']:,} rows checked (MinHash, similarity 0.8).")
    c4.metric("Empty or blank", f"{text['empty_or_whitespace']:,}")
    left, right = st.columns(2)
    with left:
        charts.histogram(text["chars"]["histogram"], title=f"Length of '{name}' in characters", x_label="Characters")
    with right:
        tokens = text.get("tokens")
        if tokens:
            charts.histogram(tokens["histogram"], title=f"Length in model tokens ({tokens['truncated_share']:.1%} over "
                             f"{tokens['max_length']})", x_label="Tokens", marker=tokens["max_length"], marker_label="max length")
        else:
            charts.histogram(text["words"]["histogram"], title=f"Length of '{name}' in words", x_label="Words")
    left, right = st.columns(2)
    with left:
        if text["pii"]:
            charts.bars([p["label"] for p in text["pii"]], [p["rows_in_sample"] for p in text["pii"]],
                        title="Rows with personal data (sample)", x_label="Rows")
        else:
            st.caption("No personal data found (e-mail, phone, card, IBAN, IP address, US SSN).")
    with right:
        languages = text["languages"]
        charts.bars(list(languages)[:10], list(languages.values())[:10], title="Language mix (sample)", x_label="Rows")
    if text["pii"]:
        st.markdown("**Personal data, example rows**")
        tables.show([{"Type": p["label"], "Row": e["row"], "Text": e["text"]} for p in text["pii"] for e in p["examples"]])
    if text["near_duplicates"]["examples"]:
        st.markdown("**Near-duplicate pairs**")
        tables.show([{"Row A": e["row_a"], "Row B": e["row_b"], "Similarity": e["similarity"], "Text A": e["text_a"],
                      "Text B": e["text_b"]} for e in text["near_duplicates"]["examples"]])
    if text["duplicate_examples"]:
        st.markdown("**Most repeated values**")
        tables.show([{"Copies": d["copies"], "Text": d["value"]} for d in text["duplicate_examples"]])


def column_details(column: dict) -> None:
    st.caption(f"Type {column['type']} (stored as {column['dtype']}); {column['count']:,} values, "
               f"{column['missing']:,} missing, {column.get('distinct', 0):,} distinct.")
    if column.get("numeric"):
        numeric = column["numeric"]
        tables.show([{k: round(numeric[k], 4) for k in ("min", "p25", "p50", "mean", "p75", "max", "std") if k in numeric}])
        charts.histogram(numeric["histogram"], title=f"Distribution of '{column['name']}'", x_label=column["name"])
    elif column.get("datetime"):
        span = column["datetime"]
        st.caption(f"From {span['min']} to {span['max']}.")
        per_day = span.get("per_day", {})
        charts.bars(list(per_day), list(per_day.values()), title="Rows per day", horizontal=False)
    elif column.get("text"):
        text_details(column["name"], column["text"])
    if column.get("top") and not column.get("text"):
        charts.bars([t["value"] for t in column["top"]], [t["count"] for t in column["top"]],
                    title=f"Most frequent values of '{column['name']}'", x_label="Rows")


def readiness(report: dict) -> None:
    fmt = report["format"]
    if fmt["format"] == "unknown":
        st.info(fmt["explanation"])
        return
    mapping = inert(", ".join(f"{role} = {column}" for role, column in fmt["columns"].items()))
    if fmt["ready"]:
        st.success(f"Ready for fine-tuning as {fmt['label'].lower()} ({mapping}); every row fits.")
    else:
        st.warning(f"{fmt['label']} ({mapping}): {fmt['explanation']} Fix or filter these rows before training.")
        tables.show([{"Row": i["row"], "Problem": i["problem"]} for i in fmt["issues"]], height=300)
    training = report.get("training_text")
    if training and training.get("tokens"):
        tokens = training["tokens"]
        charts.histogram(tokens["histogram"], title="Training example length in tokens (all turns)", x_label="Tokens",
                         marker=tokens["max_length"], marker_label="max length")
        st.caption(f"About {tokens['estimated_total']:,} tokens in all; {tokens['truncated_share']:.1%} of examples exceed "
                   f"{tokens['max_length']} tokens; padded batches would waste about {tokens['padding_waste_share']:.0%}.")


MAPPABLE = {"prompt_completion": "Prompt / completion", "instruction_response": "Instruction / response",
            "chat": "Chat messages"}
# The fine-tune settings each role's column goes to (the form's fields and `workbench finetune run` options).
FINETUNE_FIELD = {"prompt": "prompt_column", "instruction": "prompt_column", "completion": "response_column",
                  "response": "response_column", "messages": "messages_column"}


def mapping_form(columns: list[str], detected: dict, *, key: str) -> tuple[str, dict[str, str]] | None:
    """Lets the user say which columns play which part when the names differ; returns (format, role -> column)
    once they ask to check it."""
    from core.data.formats import FORMAT_ROLES

    formats = list(MAPPABLE)
    start = formats.index(detected["format"]) if detected["format"] in formats else 0
    fmt = st.selectbox("Format", formats, index=start, format_func=MAPPABLE.get, key=f"{key}.format")
    chosen = {}
    cells = st.columns(len(FORMAT_ROLES[fmt]))
    for cell, role in zip(cells, FORMAT_ROLES[fmt]):
        known = detected["columns"].get(role)
        chosen[role] = cell.selectbox(f"{role.capitalize()} column", columns, key=f"{key}.{fmt}.{role}",
                                      index=columns.index(known) if known in columns else 0)
    if st.button("Check this mapping", key=f"{key}.check"):
        return fmt, chosen
    return None


def mapping_result(report) -> None:
    """The check of a chosen mapping, and the fine-tune settings that use it."""
    mapping = ", ".join(f"{role} = {column}" for role, column in report.columns.items())
    if report.ready:
        st.success(inert(f"Ready for fine-tuning as {report.label.lower()} ({mapping}); every row fits."))
    else:
        st.warning(inert(f"{report.label} ({mapping}): {report.explanation}"))
        tables.show([{"Row": i.row, "Problem": i.problem} for i in report.issues[:1000]], height=240)
    flags = [f"--format {report.format}"] + [f"--{FINETUNE_FIELD[role].replace('_', '-')} {column}"
                                             for role, column in report.columns.items() if role in FINETUNE_FIELD]
    st.caption("Fine-tune with these columns: set the same format and columns in the Fine-tune form, or run")
    st.code("workbench finetune run ... " + " ".join(flags), language="bash")
