"""Fine-tunes on a Ray cluster through Ray's job submission API, when WORKBENCH_RAY_ADDRESS is set.

The job spec is the same: the cluster runs `python -m core.finetune.run --job ID` with the workbench's home and
database, and that process reports to the database exactly as a local one does. Ray's own states map onto the
workbench's: PENDING -> queued, RUNNING -> running, SUCCEEDED/FAILED/STOPPED -> the job's own report, or
interrupted when the process vanished without one. Cancel is Ray's stop_job; logs come from Ray.

A Ray job API runs any command it is sent, so an address that is not on this machine is refused unless a
token authenticates the workbench to it (sent as a bearer header, e.g. to a proxy in front of the dashboard).
"""
from __future__ import annotations

import ipaddress
import sys
from urllib.parse import urlparse

from core.errors import InvalidInput, Unavailable
from core.jobs import queue
from core.settings import Settings
from core.storage.db import Store

LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str, token: str) -> str:
    """The address as an http(s) URL; refuses a remote one without a token."""
    url = address if "://" in address else f"http://{address}"
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInput(f"WORKBENCH_RAY_ADDRESS must look like http://HOST:8265, not {address!r}.")
    if not _is_loopback(parsed.hostname) and not token:
        raise InvalidInput(f"The Ray address {parsed.hostname} is not on this machine and no WORKBENCH_RAY_TOKEN is "
                           "set; the workbench refuses to send jobs to a cluster without authentication.")
    return url


def client(settings: Settings):
    from ray.job_submission import JobSubmissionClient

    url = check_address(settings.ray_address, settings.ray_token)
    headers = {"Authorization": f"Bearer {settings.ray_token}"} if settings.ray_token else None
    try:
        return JobSubmissionClient(url, headers=headers)
    except Exception as exc:  # noqa: BLE001 - connection refused, bad certificate, wrong port...
        raise Unavailable(f"The Ray cluster at {url} cannot be reached ({str(exc).splitlines()[0][:200]}).") from None


def cluster_gpus(settings: Settings) -> int:
    """GPUs the cluster has in all (from the dashboard's cluster status); 0 when it reports none."""
    import json
    import urllib.request

    url = check_address(settings.ray_address, settings.ray_token).rstrip("/") + "/api/cluster_status"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {settings.ray_token}"}
                                     if settings.ray_token else {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            usage = json.load(response)["data"]["clusterStatus"]["loadMetricsReport"]["usage"]
    except Exception as exc:  # noqa: BLE001
        raise Unavailable(f"The Ray cluster at {url} did not report its resources ({exc}).") from None
    return int((usage.get("GPU") or [0, 0])[1])


def submission_id(job: queue.JobInfo) -> str:
    return f"workbench-job-{job.id}-{job.attempt + 1}"


def start(store: Store, job: queue.JobInfo) -> str:
    """Submits the job; its process claims the row itself when Ray starts it."""
    settings = store.settings
    ray = client(settings)
    local = _is_loopback(urlparse(check_address(settings.ray_address, settings.ray_token)).hostname)
    python = sys.executable if local else "python"
    env = {"WORKBENCH_HOME": str(settings.home), "WORKBENCH_DATABASE_URL": settings.database_url,
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    sid = submission_id(job)
    try:
        ray.submit_job(entrypoint=f"{python} -m core.finetune.run --job {job.id}", submission_id=sid,
                       runtime_env={"env_vars": env}, entrypoint_num_gpus=job.gpus or 0,
                       metadata={"workbench_job": str(job.id), "launched_by": job.created_by})
    except Exception as exc:  # noqa: BLE001
        raise Unavailable(f"The Ray cluster refused job {job.id} ({str(exc).splitlines()[0][:200]}).") from None
    with store.write() as session:
        from core.storage.tables import Job

        row = session.get(Job, job.id)
        row.external_id = sid
        session.add(row)
    return sid


def stop(store: Store, job: queue.JobInfo) -> None:
    if job.external_id:
        try:
            client(store.settings).stop_job(job.external_id)
        except Exception:  # noqa: BLE001 - already gone is fine: the row is cancelled either way
            pass


def logs(store: Store, job: queue.JobInfo) -> str:
    if not job.external_id:
        return ""
    try:
        return client(store.settings).get_job_logs(job.external_id)
    except Exception as exc:  # noqa: BLE001
        raise Unavailable(f"Ray did not return the logs of job {job.id} ({str(exc).splitlines()[0][:200]}).") from None


def reconcile(store: Store) -> list[int]:
    """Ray jobs whose process ended without reporting (killed, node lost) become interrupted."""
    from sqlmodel import col, select

    from core.storage.tables import Job

    with store.read() as session:
        rows = session.exec(select(Job).where(Job.launcher == "ray", col(Job.status).in_(queue.ACTIVE))).all()
    if not rows or not store.settings.ray_address:
        return []
    ray = client(store.settings)
    lost = []
    for row in rows:
        if not row.external_id:
            continue
        try:
            status = str(ray.get_job_status(row.external_id)).rsplit(".", 1)[-1].upper()
        except Exception:  # noqa: BLE001 - the cluster does not know it: treat like a vanished process
            status = "FAILED"
        if status in ("FAILED", "STOPPED", "SUCCEEDED"):
            with store.write() as session:
                current = session.get(Job, row.id)
                if current.status == queue.RUNNING:
                    queue.transition(session, current, queue.INTERRUPTED, pid=None,
                                     error=f"The Ray job {row.external_id} ended ({status.lower()}) without "
                                           "reporting; resume continues from the last complete checkpoint.")
                    lost.append(row.id)
                elif current.status == queue.QUEUED:
                    queue.transition(session, current, queue.FAILED,
                                     error=f"The Ray job {row.external_id} ended ({status.lower()}) before it started; "
                                           "see `workbench jobs logs`.")
                    lost.append(row.id)
    return lost
