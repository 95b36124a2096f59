"""Data: import files, profile them, follow versions and lineage, redact and export."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

# The role check runs before the data modules load, so a refusal never depends on them. Viewers (managers) get
# the read-only catalogue: names and sizes, never rows.
actor = auth.require_page(Permission.VIEW_DASHBOARDS)
if not actor.can(Permission.VIEW_DATA_ROWS):
    from core.data import versions
    from workbench import services
    from workbench.ui import data_view, errors

    st.header("Data")
    with errors.shown_to_user():
        data_view.catalogue(versions.list_datasets(services.store(), actor=actor))
    st.stop()

from core.data import export, formats, ingest, overlap, pii, profile, redact, transform, versions  # noqa: E402
from core.models import registry  # noqa: E402
from workbench import services, uploads  # noqa: E402
from workbench.ui import charts, data_view, errors, forms, profile_view, tables  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
st.header("Data")

with st.expander("Import a file", expanded=not versions.count_datasets(store), icon=":material/upload:"):
    upload = st.file_uploader("CSV, TSV, JSONL, JSON, Parquet or Excel file", key="data.upload",
                              type=["csv", "tsv", "txt", "jsonl", "json", "parquet", "xlsx"])
    data_view.default_import_name(upload, key="data.import_name")
    name = st.text_input("Dataset name", key="data.import_name",
                         help="An existing name gets a new version; identical content is stored once.")
    skip = st.checkbox("Skip malformed rows instead of refusing the file", key="data.skip_bad_rows")
    if st.button("Import", type="primary", disabled=upload is None, key="data.import"):
        with errors.shown_to_user(), st.spinner("Reading and storing the file..."), \
                uploads.saved_upload(upload, store.settings) as path:
            result = ingest.import_file(store, actor=actor, path=path, name=name, display_name=upload.name,
                                        skip_bad_rows=skip)
            verb = "Imported" if result.created else "Identical content is already stored as"
            st.success(f"{verb} {inert(result.version.ref)}: {result.version.rows:,} rows, "
                       f"{len(result.version.columns)} columns ({result.format}).")
            if result.skipped:
                st.warning(f"{len(result.skipped):,} malformed row(s) skipped, listed below.")
                tables.show([{"Line": s.line, "Reason": s.reason} for s in result.skipped])
            st.session_state["data.selected"] = result.version.dataset
            st.session_state[f"data.version.{result.version.dataset}"] = result.version.version

datasets = versions.list_datasets(store, actor=actor)
if not datasets:
    st.info("No dataset yet. Import a file above, or from a terminal: `workbench data import FILE --name NAME`.")
    st.stop()

names = [d.name for d in datasets]
data_view.select_pending()
left, right = st.columns([3, 1])
chosen = left.selectbox("Dataset", names, key="data.selected")
history = versions.list_versions(store, actor=actor, name=chosen)
number = right.selectbox("Version", [v.version for v in history], key=f"data.version.{chosen}")
version = next(v for v in history if v.version == number)
st.caption(f"{inert(version.ref)} · {version.rows:,} rows · {inert(data_view.origin(version))} · "
           f"by {inert(version.created_by)} on {version.created_at:%Y-%m-%d %H:%M} UTC · sha256 {version.sha256[:12]}")
data_view.show_flash()

profile_tab, rows_tab, lineage_tab, redact_tab, overlap_tab = st.tabs(
    ["Profile", "Rows", "Versions & lineage", "Transform & export", "Train/eval overlap"])

with profile_tab, errors.shown_to_user():
    chat_models = data_view.tokenizer_models(registry.list_models(store, actor=actor, task="chat"))
    # The fields, bounds and help of ProfileOptions (the same definition as `workbench data profile`'s options);
    # without a local chat model there is no tokenizer to choose and token counts are left out.
    options = forms.dataclass_form(profile.ProfileOptions, prefix="data.profile", columns=4,
                                   options={"tokenizer_model": chat_models},
                                   **({} if chat_models else {"tokenizer_model": ""}))
    cached = profile.cache_path(store, version, options).exists()
    if cached or st.button("Profile this version", type="primary", key="data.run_profile"):
        bar = st.progress(0.0, text="Starting...")
        report = profile.profile_version(store, actor=actor, ref=version.ref, options=options,
                                         progress=lambda share, message: bar.progress(share, text=inert(message)))
        bar.empty()
        profile_view.summary(report)
        profile_view.alerts(report)
        st.subheader("Columns")
        profile_view.columns_table(report)
        column_names = [c["name"] for c in report["columns"]]
        picked = st.selectbox("Column details", column_names, key=f"data.column.{version.ref}")
        profile_view.column_details(next(c for c in report["columns"] if c["name"] == picked))
        st.subheader("Fine-tuning readiness")
        profile_view.readiness(report)
        with st.expander("Map the columns yourself (when their names differ)", icon=":material/swap_horiz:",
                         expanded=report["format"]["format"] == "unknown"):
            asked = profile_view.mapping_form(column_names, report["format"], key=f"data.mapping.{version.ref}")
            if asked:
                frame = versions.load_frame(store, actor=actor, version=version)
                profile_view.mapping_result(formats.check_format(frame, asked[0], asked[1]))

with rows_tab, errors.shown_to_user():
    # Only the first row groups of the file are read (and cached), however large the version.
    st.dataframe(data_view.head(store, actor, version, 1000), width="stretch", height=420)
    st.caption(f"The first {min(1000, version.rows):,} of {version.rows:,} rows.")

with lineage_tab, errors.shown_to_user():
    charts.lineage_graph(versions.lineage(store, actor=actor, ref=version.ref).to_dict())
    data_view.lineage_table(history)

with redact_tab, errors.shown_to_user():
    st.markdown("**Redact personal data** into a new version; this version stays as it is.")
    types = st.multiselect("Types", list(pii.PII_TYPES), default=list(pii.PII_TYPES),
                           format_func=lambda t: pii.PII_TYPES[t].label, key="data.redact_types")
    if st.button("Redact into a new version", key="data.redact", disabled=not types):
        with st.spinner("Redacting..."):
            result = redact.redact_version(store, actor=actor, ref=version.ref, types=types)
        data_view.done(data_view.redaction_message(result), show=result.version)
    st.markdown("**Clean and split** into new versions")
    c1, c2, c3 = st.columns(3)
    near = c1.checkbox("Near-duplicates too", key="data.dedupe_near", help="MinHash over word 3-grams, similarity 0.8.")
    made = None
    if c1.button("Remove duplicates", key="data.dedupe"):
        made = transform.dedupe_version(store, actor=actor, ref=version.ref, near=near)
    if c2.button("Drop rows that break the format", key="data.filter"):
        made = transform.filter_version(store, actor=actor, ref=version.ref)
    share = c3.slider("Evaluation share", 0.05, 0.5, 0.1, 0.05, key="data.eval_share")
    if c3.button("Split into train and eval", key="data.split"):
        made = transform.split_version(store, actor=actor, ref=version.ref, eval_share=share)
    st.markdown(f"**Merge** {inert(version.ref)} with the latest version of other datasets")
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
    others = c1.multiselect("Merge with", [n for n in names if n != version.dataset],
                            key=f"data.merge_with.{chosen}",
                            help="Rows are stacked; columns missing on one side are left empty.")
    merged_name = c2.text_input("Merged dataset name", f"{version.dataset}-merged", key=f"data.merge_name.{chosen}")
    if c3.button("Merge into a new dataset", key="data.merge", disabled=not others):
        made = transform.merge_versions(store, actor=actor, refs=[version.ref, *others], name=merged_name)
    if made:
        data_view.done(data_view.made_message(made),
                       show=made.versions[0] if len(made.versions) == 1 else None)
    st.markdown("**Export**")
    fmt = st.selectbox("Format", export.EXPORT_FORMATS, key="data.export_format",
                       help="CSV and Excel neutralise cells a spreadsheet would run as formulas.")
    data_view.export_button(store, actor, version, fmt)

with overlap_tab, errors.shown_to_user():
    st.markdown(f"Does an evaluation set repeat rows of **{inert(version.ref)}** (taken as the training data)?")
    eval_name = st.selectbox("Evaluation dataset", names, key="data.overlap_eval")
    if st.button("Check overlap", key="data.overlap"):
        report = overlap.check_overlap(store, actor=actor, train_ref=version.ref, eval_ref=eval_name)
        c1, c2, c3 = st.columns(3)
        c1.metric("Exact copies", f"{report.exact:,}")
        c2.metric("Near-duplicates", f"{report.near:,}")
        c3.metric("Contaminated", f"{report.contaminated_share:.1%}", help=f"of {report.checked_eval_rows:,} rows checked")
        if report.examples:
            tables.show(report.examples)
