"""Processes started by a long-lived parent (the app starts workers, the worker starts jobs) are reaped when they
end, so none stays behind as a <defunct> child."""
import os
import sys

import psutil

from core.jobs import launcher, worker
from tests.support.waiting import until


def _zombie_children() -> list[int]:
    return [c.pid for c in psutil.Process(os.getpid()).children() if c.status() == psutil.STATUS_ZOMBIE]


def test_a_spawned_process_that_ends_is_reaped_not_left_a_zombie(tmp_path):
    pid = launcher.spawn([sys.executable, "-c", "print('hello')"], log_path=tmp_path / "log.txt", env=dict(os.environ))
    until(lambda: pid not in [c.pid for c in psutil.Process(os.getpid()).children()],
          timeout_s=30, what="the process to end and be reaped")
    assert pid not in _zombie_children()
    assert (tmp_path / "log.txt").read_text().strip() == "hello"
    # It ran in a session of its own: cancel stops its group, never the parent's.
    assert os.getsid(os.getpid()) != pid


def test_the_worker_started_for_a_home_is_reaped_when_it_exits_idle(store):
    assert worker.ensure_worker(store.settings)
    until(lambda: not worker.worker_running(store.settings), timeout_s=60, what="the idle worker to exit")
    until(lambda: not _zombie_children(), timeout_s=10, what="no zombie child")
