"""Job spend: GPU hours and CPU hours per kind of job, priced from the settings."""
from datetime import datetime, timedelta, timezone

import pytest

from core.governance.roles import Actor, Role
from core.kpi import spend
from core.storage.tables import Job

VIEWER = Actor(name="vic", role=Role.VIEWER)


def test_finished_jobs_are_priced_per_gpu_or_cpu_hour(store, monkeypatch):
    start = datetime(2026, 11, 2, 8, tzinfo=timezone.utc)
    with store.write() as session:
        for kind, gpus, hours, finished in (("finetune", 2, 1.5, True), ("finetune", 0, 3.0, True),
                                            ("compare", 0, 0.5, True), ("finetune", 1, 9.0, False)):
            session.add(Job(kind=kind, name=kind, status="succeeded" if finished else "running", config={},
                            run_dir="/tmp/x", gpus=gpus, created_by="dan", started_at=start,
                            finished_at=start + timedelta(hours=hours) if finished else None))
    found = {e["kind"]: e for e in spend.job_spend(store, actor=VIEWER)}
    assert found["finetune"]["runs"] == 2
    assert found["finetune"]["gpu_hours"] == pytest.approx(3.0) and found["finetune"]["cpu_hours"] == pytest.approx(3.0)
    assert found["finetune"]["cost"] == pytest.approx(3.0 * store.settings.gpu_hour_usd + 3.0 * store.settings.cpu_hour_usd)
    assert found["compare"]["cost"] == pytest.approx(0.5 * store.settings.cpu_hour_usd)
    assert spend.job_spend(store, actor=VIEWER, since=start + timedelta(days=1)) == []
