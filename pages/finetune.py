"""Fine-tune: launch LoRA/QLoRA jobs from a form generated from FinetuneConfig, watch them live, compare runs."""
import streamlit as st

from core.governance.roles import Permission
from workbench import auth

# Viewers (managers) watch the shared queue; only admins and data scientists launch, cancel and resume.
actor = auth.require_page(Permission.VIEW_DASHBOARDS)

from core.data import versions as datasets  # noqa: E402
from core.finetune import launch, preflight, sweeps  # noqa: E402
from core.finetune.config import FinetuneConfig  # noqa: E402
from core.finetune.train import read_metrics  # noqa: E402
from core.jobs import queue  # noqa: E402
from core.models import registry  # noqa: E402
from workbench import services  # noqa: E402
from workbench.ui import errors, finetune_view as view, links, tables  # noqa: E402
from workbench.ui.text import inert  # noqa: E402

store = services.store()
can_launch = actor.can(Permission.LAUNCH_JOBS)
st.header("Fine-tune")
st.caption("LoRA and QLoRA fine-tunes of local chat models. A job runs in its own process and outlives this tab. "
           "CLI: `workbench finetune run --config FILE`, `workbench jobs list`.")

labels = (["Launch"] if can_launch else []) + ["Jobs", "Compare runs"]
if (goto := st.session_state.pop(view.GOTO_KEY, None)) is not None:
    st.session_state[view.TAB_KEY], st.session_state[view.JOB_KEY] = "Jobs", goto
if st.session_state.get(view.TAB_KEY) not in labels:
    st.session_state.pop(view.TAB_KEY, None)
if notice := st.session_state.pop(view.FLASH_KEY, None):
    st.success(notice)
tabs = dict(zip(labels, st.tabs(labels, key=view.TAB_KEY, on_change="rerun")))
everyone = queue.list_jobs(store, actor=actor, kind="finetune")
by_id = {job.id: job for job in everyone}

if can_launch:
    with tabs["Launch"], errors.shown_to_user():
        devices = preflight.cuda_devices()
        if devices:
            st.caption("GPUs: " + ", ".join(f"{d['index']}: {inert(d['name'])} ({d['memory_gb']:.0f} GiB)"
                                            for d in devices))
        else:
            st.warning("No CUDA GPU on this machine: jobs run on the CPU, which suits small models and quick "
                       "checks. QLoRA is not available.")
        models = [m.name for m in registry.list_models(store, actor=actor, task="chat") if m.is_local]
        refs = [v.ref for d in datasets.list_datasets(store, actor=actor)
                for v in datasets.list_versions(store, actor=actor, name=d.name)]
        if not models:
            st.info("No local chat model to fine-tune. Run `workbench init` to install the bundled one, or register "
                    "a local model on the Models page.")
        elif not refs:
            st.info("No dataset yet. Import a fine-tuning set (chat messages, prompt/completion or "
                    "instruction/response) on the Data page, then come back.")
            links.page_link("data", "Open the Data page")
        else:
            view.init_form(models=models, refs=refs, qlora_possible=bool(devices))
            view.preset_picker()
            values = view.config_form(models=models, refs=refs, qlora_possible=bool(devices))
            config = None
            with errors.shown_to_user():
                config = FinetuneConfig.from_dict(values)
            buttons = st.container(horizontal=True)
            if buttons.button("Check", type="primary", disabled=config is None, key="finetune.check"):
                st.session_state[view.CHECKED_KEY] = config.to_dict()
            buttons.download_button("Save config", data=view.config_json(config) if config else "",
                                    file_name="finetune-config.json", mime="application/json",
                                    disabled=config is None, key="finetune.save_config",
                                    help="The JSON that `workbench finetune run --config FILE` takes.")
            checked = st.session_state.get(view.CHECKED_KEY)
            if config is not None and checked == config.to_dict() and tabs["Launch"].open is not False:
                st.subheader("Pre-flight")
                with st.spinner("Checking the model, data and machine..."):
                    result = preflight.run(store, actor=actor, config=config, measure=True)
                view.checks(result)
                view.estimate(result.estimate, gpu=bool(devices))
                if result.estimate:
                    st.subheader("Training examples as the model reads them")
                    view.preview(store, actor, config)
                if st.button("Launch", type="primary", disabled=not result.ok, key="finetune.launch"):
                    job = launch.launch(store, actor=actor, config=config)
                    st.session_state[view.FLASH_KEY] = f"Launched job {job.id}; it is selected in the Jobs tab."
                    st.session_state[view.GOTO_KEY] = job.id
                    st.rerun()
                if not result.ok:
                    st.caption("Fix the errors above to launch.")
            elif checked is not None:
                st.caption("The settings changed since the last check: check again before launching.")

with tabs["Jobs"], errors.shown_to_user():
    if not everyone:
        st.info("No fine-tuning job yet. " + ("Launch one in the Launch tab, or" if can_launch else "Data scientists "
                "launch them on this page, or") + " from a terminal: `workbench finetune run --base MODEL "
                "--dataset NAME`.")
    else:
        f1, f2 = st.columns(2)
        status = f1.selectbox("Status", ["all", *queue.STATUSES], key="finetune.filter.status")
        who = f2.selectbox("Launched by", ["everyone", *sorted({j.created_by for j in everyone})],
                           key="finetune.filter.by")
        filters = dict(kind="finetune", status=None if status == "all" else status,
                       created_by=None if who == "everyone" else who)
        shown = queue.list_jobs(store, actor=actor, **filters)
        if shown:
            view.jobs_table_live(store, actor, filters, live=any(j.status in queue.ACTIVE for j in shown))
        else:
            st.caption("No job matches these filters.")
        ids = [j.id for j in shown]
        if st.session_state.get(view.JOB_KEY) not in by_id:
            st.session_state.pop(view.JOB_KEY, None)
        elif st.session_state[view.JOB_KEY] not in ids:
            ids.insert(0, st.session_state[view.JOB_KEY])
        if ids:
            job_id = st.selectbox("Job", ids, key=view.JOB_KEY, format_func=lambda i: view.job_label(by_id[i]))
            view.job_view(store, actor, by_id[job_id], live=tabs["Jobs"].open is not False)

with tabs["Compare runs"], errors.shown_to_user():
    if not everyone:
        st.info("No run to compare yet: launch fine-tunes first.")
    else:
        ids = list(by_id)
        chosen = st.multiselect("Runs", ids, default=ids[:2], format_func=lambda i: view.job_label(by_id[i]),
                                key="finetune.compare.runs")
        if chosen:
            view.loss_overlay({f"Job {i}": read_metrics(by_id[i].run_dir) for i in chosen})
        st.subheader("Config diff")
        if len(ids) < 2:
            st.info("Only one run so far: launch another to compare their configs.")
        else:
            a_col, b_col = st.columns(2)
            a = a_col.selectbox("Run", ids, index=0, format_func=lambda i: view.job_label(by_id[i]),
                                key="finetune.diff.a")
            b = b_col.selectbox("Against", ids, index=1, format_func=lambda i: view.job_label(by_id[i]),
                                key="finetune.diff.b")
            if rows := view.config_diff(by_id[a], by_id[b]):
                tables.show(rows)
            else:
                st.caption("The two runs have the same config.")
        sweep_ids = sorted({job.sweep_id for job in everyone if job.sweep_id}, reverse=True)
        st.subheader("Sweeps")
        if not sweep_ids:
            st.caption("No sweep yet. Launch one from a terminal, e.g. `workbench sweeps launch --base MODEL "
                       "--dataset NAME --search learning_rate=1e-4,3e-4 --search lora_r=8,16`.")
        else:
            sweep = st.selectbox("Sweep", sweep_ids, key="finetune.sweep")
            tables.show(sweeps.ranking(store, actor=actor, sweep_id=sweep))
            st.caption("Trials ranked by evaluation loss, best first.")
