"""A comparison or pipeline run whose process is killed reads as failed (audited), not as running for ever; a run
whose process is alive, or that belongs to another host, is left alone."""
import os
import signal
import subprocess
import sys
import threading
import time

from core.compare import runs
from core.governance import audit
from core.governance.roles import SYSTEM
from core.models import sources
from core.prompts import templates
from core.storage import run_owners
from core.storage.tables import ComparisonRun
from tests.cli.test_cli import WORKBENCH
from tests.core.models.helpers import SERVER_KEY, _OpenAIHandler, openai_server
from tests.support.waiting import until

answer = threading.Event()


class _SlowHandler(_OpenAIHandler):
    """Holds every completion until the test lets it go: the run stays in progress meanwhile."""

    def do_POST(self):
        answer.wait(30)
        super().do_POST()


def test_a_killed_comparison_run_is_marked_failed_and_a_live_one_is_not(store, home):
    """The comparison runs as a job: `compare run` submits it and a worker's job process runs it; that process is
    the run's owner, and killing it leaves a run that reads as failed, not running for ever."""
    templates.save_version(store, actor=SYSTEM, name="ask", body="Q: {{ question }}")
    answer.clear()
    with openai_server(_SlowHandler) as url:
        sources.add_endpoint(store, actor=SYSTEM, name="remote", base_url=url, model="tiny-chat",
                             api_key_env="TEST_ENDPOINT_KEY")
        env = {**os.environ, "WORKBENCH_HOME": str(home.home), "TEST_ENDPOINT_KEY": SERVER_KEY}
        owner = None
        try:
            submitted = subprocess.run([WORKBENCH, "compare", "run", "--prompt", "ask", "--model", "remote",
                                        "--input", "2+2?"], env=env, capture_output=True, text=True, timeout=120)
            assert submitted.returncode == 0, submitted.stderr
            listed = until(lambda: runs.list_runs(store, actor=SYSTEM), what="the run to start")
            assert listed[0].status == "running"  # read while its process is alive: untouched
            time.sleep(0.3)
            assert runs.get_run(store, actor=SYSTEM, run_id=listed[0].id).status == "running"
            with store.read() as session:
                owner = session.get(ComparisonRun, listed[0].id).pid
            assert owner and owner != os.getpid()
            os.kill(owner, signal.SIGKILL)
            until(lambda: run_owners.live_process(owner) is None, what="the job process to end")
        finally:
            answer.set()
    run = runs.get_run(store, actor=SYSTEM, run_id=listed[0].id)
    assert (run.status, run.error) == ("failed", run_owners.INTERRUPTED) and run.finished_at
    events = audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="comparison.interrupted"))
    assert [e.target_id for e in events] == [str(run.id)]
    assert runs.list_runs(store, actor=SYSTEM)[0].status == "failed"  # and only once
    assert len(audit.list_events(store, actor=SYSTEM, filters=audit.AuditFilter(action="comparison.interrupted"))) == 1


def test_only_this_hosts_runs_with_a_dead_process_are_failed(store):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    here = run_owners.this_process()
    with store.write() as session:
        rows = [ComparisonRun(name="grid", prompts=[], models=[], settings={}, status=status, created_by="dan",
                              pid=pid, host=host)
                for status, pid, host in [("running", dead_pid, here["host"]), ("running", os.getpid(), here["host"]),
                                          ("running", dead_pid, "another-machine"), ("succeeded", dead_pid, here["host"])]]
        session.add_all(rows)
        session.flush()
        ids = [r.id for r in rows]
    fail = dict(action="comparison.interrupted", target_type="comparison_run")
    assert run_owners.fail_orphans(store, ComparisonRun, **fail) == ids[:1]
    with store.read() as session:
        assert [session.get(ComparisonRun, i).status for i in ids] == ["failed", "running", "running", "succeeded"]
    assert run_owners.fail_orphans(store, ComparisonRun, **fail) == []


def test_a_pid_reused_by_a_later_process_does_not_keep_a_run_alive(store):
    from datetime import timedelta

    from core.storage.tables import utcnow

    here = run_owners.this_process()
    assert run_owners.process_running(os.getpid(), utcnow())
    # A run created ten years ago cannot be this process's, though the pid is alive: the pid was reused.
    with store.write() as session:
        row = ComparisonRun(name="old", prompts=[], models=[], settings={}, status="running", created_by="dan",
                            created_at=utcnow() - timedelta(days=3650), **here)
        session.add(row)
        session.flush()
        old = row.id
    fail = dict(action="comparison.interrupted", target_type="comparison_run")
    assert run_owners.fail_orphans(store, ComparisonRun, **fail) == [old]
