"""Monitor runs as jobs: in process and in a real worker process; the worker's schedule queues due monitors."""
from datetime import datetime, timedelta, timezone

from core.governance.roles import Role
from core.jobs import actions, queue, worker
from core.monitoring import alerts, jobs as monitor_jobs, monitors, runs
from tests.core.monitoring.traffic import log_traffic
from tests.support.waiting import until


def _monitor(store, actor, schedule="daily"):
    return monitors.create_monitor(store, actor=actor, name="support", reference="events:2026-01-01..2026-01-04",
                                   fields=["prompt_chars", "meta.topic"], schedule=schedule)


def test_a_monitor_job_runs_the_monitor_as_its_submitter(store, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    log_traffic(store, days=7)
    monitor = _monitor(store, dan)
    job = monitor_jobs.submit_monitor_run(store, actor=dan, monitor="support", launcher="inprocess")
    assert (job.kind, job.status, job.created_by) == ("monitor", queue.SUCCEEDED, "dan")
    run = runs.latest_run(store, actor=dan, monitor_id=monitor.id)
    opened = alerts.list_alerts(store, actor=dan, status="active")
    assert job.result == {"monitor_run": run.id, "windows": 4, "alert": opened[0].id}
    assert run.created_by == "dan" and actions.progress(job).done == 4


def test_a_monitor_job_runs_in_a_real_worker_process(store, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    log_traffic(store, days=6)
    monitor = _monitor(store, dan)
    job = monitor_jobs.submit_monitor_run(store, actor=dan, monitor=monitor.id)
    done = actions.wait(store, actor=dan, job_id=job.id, timeout_s=300, poll_s=0.3)
    assert done.status == queue.SUCCEEDED, (done.error, actions.logs(store, actor=dan, job_id=job.id))
    assert runs.latest_run(store, actor=dan, monitor_id=monitor.id).windows == 3
    until(lambda: not worker.worker_running(store.settings), timeout_s=60, what="the idle worker to exit")


def test_the_schedule_queues_each_due_monitor_once(store, people):
    dan = people[Role.DATA_SCIENTIST].as_actor()
    log_traffic(store, days=5)
    daily = _monitor(store, dan)
    monitors.create_monitor(store, actor=dan, name="by hand", reference="events:2026-01-01..2026-01-04",
                            fields=["latency_s"], schedule="manual")
    assert [m.name for m in monitor_jobs.due_monitors(store, actor=dan)] == ["support"]
    monitor_jobs._last_check.clear()
    queued = monitor_jobs.queue_due_runs(store)
    assert len(queued) == 1 and queue.get_job(store, actor=dan, job_id=queued[0]).created_by == "dan"
    monitor_jobs._last_check.clear()
    assert monitor_jobs.queue_due_runs(store) == []  # one already queued
    runs.run_monitor(store, actor=dan, monitor_id=daily.id)
    assert monitor_jobs.due_monitors(store, actor=dan) == []
    later = datetime.now(timezone.utc) + timedelta(days=1, minutes=1)
    assert [m.name for m in monitor_jobs.due_monitors(store, actor=dan, now=later)] == ["support"]
