"""EventWriter: an acknowledged event survives the writer's process being killed before its database write."""
import os
import subprocess
import sys
import textwrap

from core.events.log import EventWriter, journal_dir, replay_journal
from core.events.query import EventFilter, list_events
from core.events.schema import EventIn
from core.governance.roles import SYSTEM

CHILD = textwrap.dedent("""
    import os, sys
    from core.home import open_store
    from core.events.log import EventWriter
    from core.events.schema import EventIn
    store = open_store()
    writer = EventWriter(store, flush_interval_s=3600, batch_size=10_000).start()
    for i in range(5):
        writer.submit(EventIn(model="m", input=f"q{i}", output=f"a{i}", metadata={"n": i}))
    print("acknowledged", flush=True)
    sys.stdin.readline()  # killed here, before the batch reaches the database
""")


def test_events_acknowledged_by_a_killed_writer_are_replayed_by_the_next(store):
    env = {**os.environ, "WORKBENCH_HOME": str(store.settings.home)}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "acknowledged"
        child.kill()
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert list_events(store, actor=SYSTEM) == []
    with journal_dir(store).joinpath(next(journal_dir(store).glob("*.jsonl")).name).open("a") as journal:
        journal.write('{"model": "m", "input": "torn')  # a crash mid-line: never acknowledged, left out
    writer = EventWriter(store).start()
    writer.close()
    events = list_events(store, actor=SYSTEM, filters=EventFilter(limit=100))
    assert sorted(e.output for e in events) == [f"a{i}" for i in range(5)]
    assert {e.source for e in events} == {"server"}
    assert list(journal_dir(store).glob("*.jsonl")) == []
    assert replay_journal(store) == 0


def test_the_writer_batches_submissions_and_flush_waits_for_the_database(store):
    with EventWriter(store, flush_interval_s=60, batch_size=1000) as writer:
        ids = []
        for i in range(30):
            ids += writer.submit([EventIn(model="m", input=f"q{i}", response_id=f"chatcmpl-{i}")])
        assert writer.flush(timeout=30)
        assert sum(writer.batches) == 30 and len(writer.batches) < 30
    found = {e.event_id for e in list_events(store, actor=SYSTEM, filters=EventFilter(limit=100))}
    assert found == set(ids)
    assert list(journal_dir(store).glob("*.jsonl")) == []


def test_a_second_writer_in_the_same_process_leaves_the_first_ones_journal_alone(store):
    first = EventWriter(store, flush_interval_s=3600, batch_size=10_000).start()
    [event_id] = first.submit(EventIn(model="m", input="q", output="from the first writer"))
    second = EventWriter(store).start()
    assert list_events(store, actor=SYSTEM) == []  # not replayed: its writer is alive
    assert len(list(journal_dir(store).glob("*.jsonl"))) == 1
    first.close()
    second.close()
    assert [e.event_id for e in list_events(store, actor=SYSTEM)] == [event_id]
