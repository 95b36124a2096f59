"""Prompts: Jinja2 templates with immutable versions, labels, diffs and a preview as the model reads it."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

actor = auth.require_page(Permission.RUN_INFERENCE)

from core.data import versions as datasets  # noqa: E402
from core.errors import InvalidInput  # noqa: E402
from core.inference import engines  # noqa: E402
from core.models import registry  # noqa: E402
from core.prompts import templates  # noqa: E402
from core.prompts.render import check_template, render_messages  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import data_view, errors, prompts_view  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
can_edit = actor.can(Permission.MANAGE_PROMPTS)
st.header("Prompts")
st.caption("Templates are Jinja2: `{{ variable }}` is filled from a dataset column or a typed value, and the model's "
           "chat template is applied on top. Every save is a new version. CLI: `workbench prompts`.")
prompts_view.show_flash()

if can_edit:
    with st.expander("New template", icon=":material/add:", expanded=not templates.count_templates(store)):
        with st.form("prompts.new", border=False):
            new_name = st.text_input("Template name", placeholder="ticket-summary",
                                     help="Letters, digits, dots, dashes and underscores.")
            new_description = st.text_input("What it is for (optional)")
            new_system = st.text_area("System prompt (optional)", height=80)
            new_body = st.text_area("User message", height=140, placeholder="Summarise this ticket:\n{{ body }}")
            if st.form_submit_button("Create template", type="primary"):
                with errors.shown_to_user():
                    templates.ensure_new_name(store, new_name)
                    made, _ = templates.save_version(store, actor=actor, name=new_name, body=new_body,
                                                     system=new_system, description=new_description,
                                                     note="First version.")
                    prompts_view.done(f"Created {inert(made.ref)}.", template=made.template, version=made.version)

found = templates.list_templates(store, actor=actor)
if not found:
    st.info("No prompt template yet. Create one above, or from a terminal: "
            "`workbench prompts save NAME --body 'Summarise: {{ text }}'`.")
    st.stop()

prompts_view.select_pending()
names = [t.name for t in found]
left, right = st.columns([3, 1])
chosen = left.selectbox("Template", names, key="prompts.selected")
history = templates.list_versions(store, actor=actor, name=chosen)
labelled = {v.version: f"{v.version} ({', '.join(v.labels)})" if v.labels else str(v.version) for v in history}
number = right.selectbox("Version", list(labelled), format_func=labelled.get, key=f"prompts.version.{chosen}")
version = next(v for v in history if v.version == number)
info = next(t for t in found if t.name == chosen)
st.caption(f"{inert(version.ref)} · by {inert(version.created_by)} on {version.created_at:%Y-%m-%d %H:%M} UTC"
           + (f" · {inert(version.note)}" if version.note else "")
           + (f" · {inert(info.description)}" if info.description else ""))

edit_tab, versions_tab, diff_tab = st.tabs(["Edit & preview", "Versions & labels", "Diff"])

with edit_tab:
    key = f"prompts.edit.{chosen}.{version.version}"
    system = st.text_area("System prompt (optional)", value=version.system or "", height=90, key=f"{key}.system",
                          disabled=not can_edit)
    body = st.text_area("User message", value=version.body, height=180, key=f"{key}.body", disabled=not can_edit)
    variables: list[str] = []
    with errors.shown_to_user():
        variables = sorted(set(check_template(body)) | set(check_template(system, "The system prompt")))
        st.caption("Variables: " + (", ".join(f"`{inert(v)}`" for v in variables) if variables else "none"))
    if can_edit:
        note_col, save_col = st.columns([3, 1], vertical_alignment="bottom")
        note = note_col.text_input("What changed", key=f"{key}.note", placeholder="e.g. shorter answers")
        if save_col.button("Save as new version", type="primary", key=f"{key}.save",
                           disabled=body == version.body and system == (version.system or "")):
            with errors.shown_to_user():
                saved, created = templates.save_version(store, actor=actor, name=chosen, body=body, system=system,
                                                        note=note)
                prompts_view.done(f"Saved {inert(saved.ref)}." if created else
                                  f"Nothing changed; {inert(saved.ref)} is the latest version.", template=chosen,
                                  version=saved.version)

    st.subheader("Preview")
    source = st.radio("Fill the variables from", ["Typed values", "A dataset row"], horizontal=True,
                      key="prompts.preview_source")
    values: dict[str, object] = {}
    with errors.shown_to_user():
        if source == "Typed values":
            for name in variables:
                values[name] = st.text_input(name, key=f"prompts.value.{name}")
        elif not actor.can(Permission.VIEW_DATA_ROWS):
            st.info("Your role cannot read dataset rows; type values instead.")
        else:
            sets = datasets.list_datasets(store, actor=actor)
            if not sets:
                st.info("No dataset yet: import one on the Data page, or type values.")
            else:
                d_col, r_col = st.columns([3, 1])
                latest = [d.latest for d in sets if d.latest]
                # Default: the dataset whose columns match the template's variables (per template).
                ref = d_col.selectbox("Dataset", [v.ref for v in latest], key=f"prompts.preview_dataset.{chosen}",
                                      index=prompts_view.best_dataset(latest, variables))
                picked = datasets.get_version(store, actor=actor, ref=ref)
                row = r_col.number_input("Row", min_value=1, max_value=max(picked.rows, 1), value=1,
                                         key="prompts.preview_row")
                # One row, read from the row group holding it (and cached), not the whole dataset.
                cells = data_view.row(store, actor, picked, int(row) - 1)
                columns = [c["name"] for c in picked.columns]
                mapping, kinds = {}, {}
                for name in variables:
                    mapping[name] = st.selectbox(f"{name} ←", columns, key=f"prompts.map.{ref}.{name}",
                                                 index=prompts_view.default_column(columns, name))
                    values[name], kinds[name] = prompts_view.template_value(cells[mapping[name]])
                for note in prompts_view.variable_notes(mapping, kinds):
                    st.warning(inert(note))
        chat_models = [m.name for m in registry.list_models(store, actor=actor, task="chat")]
        messages = None
        try:
            messages = render_messages(body, values, system=system)
        except InvalidInput as exc:
            st.warning(inert(exc.message))
        if messages:
            model = st.selectbox("As this model reads it", chat_models, key="prompts.preview_model") \
                if chat_models else None
            chat_tab, raw_tab = st.tabs(["Messages", "With the model's chat template"])
            with chat_tab:
                prompts_view.messages(messages)
            with raw_tab:
                text = engines.chat_prompt_text(store, actor=actor, model=model, messages=messages) if model else None
                if text is None:
                    st.caption("An endpoint applies its own chat template on the server." if model else
                               "Register a chat model on the Models page to see its chat template applied.")
                else:
                    st.code(text, language="text", wrap_lines=True)

with versions_tab:
    prompts_view.versions_table(history)
    if info.labels:
        st.caption("Labels: " + ", ".join(f"`{inert(k)}` → {v}" for k, v in info.labels.items()))
    if can_edit:
        with st.form("prompts.label", border=False):
            l_col, v_col, b_col = st.columns([2, 1, 1], vertical_alignment="bottom")
            label = l_col.text_input("Label", value="production", help="e.g. production, staging, candidate.")
            target = v_col.selectbox("Version", [v.version for v in history])
            if b_col.form_submit_button("Set label"):
                with errors.shown_to_user():
                    moved = templates.set_label(store, actor=actor, ref=f"{chosen}@{target}", label=label)
                    prompts_view.done(f"{inert(chosen)}@{inert(label.strip().lower())} now points to "
                                      f"{inert(moved.ref)}.", template=chosen, version=moved.version)

with diff_tab:
    if len(history) < 2:
        st.info("Only one version so far: edit the template and save it to compare versions.")
    else:
        numbers = [v.version for v in history]
        a_col, b_col = st.columns(2)
        old = a_col.selectbox("From version", numbers, index=1, key="prompts.diff_old")
        new = b_col.selectbox("To version", numbers, index=0, key="prompts.diff_new")
        with errors.shown_to_user():
            result = templates.diff_versions(store, actor=actor, old=f"{chosen}@{old}", new=f"{chosen}@{new}")
            prompts_view.diff(result)
            prompts_view.side_by_side(result)
