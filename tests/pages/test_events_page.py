"""The Events page under AppTest: filter, open one conversation as inert text, export; refused to viewers and annotators."""
from datetime import datetime, timedelta, timezone

from streamlit.testing.v1 import AppTest

from core.data import versions
from core.events.log import log_events
from core.events.schema import EventIn
from core.governance import logins
from core.governance.roles import SYSTEM
from tests.conftest import PASSWORD
from workbench.navigation import PAGES

PAGE = str(PAGES[0].path.parent.parent / "pages" / "events.py")
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _open(store, name: str) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=60)
    app.session_state["auth.token"] = logins.log_in(store, name=name, password=PASSWORD).token
    return app.run()


def _seed(store):
    log_events(store, [
        EventIn(model="bot", time=NOW - timedelta(hours=2), input=[{"role": "user", "content": "**Where** is my claim?"}],
                output="<b>Soon</b> [click](http://evil.example)", deployment="support-bot", deployment_version=1,
                application="helpdesk", user_id="u1", metadata={"segment": "claims"}, latency_s=0.4),
        EventIn(model="bot", time=NOW - timedelta(hours=1), input="Cancel my order", output="Done.",
                application="web", user_id="u2", metadata={"segment": "billing"}, status="error", error="timeout"),
    ])


def test_an_empty_log_says_how_events_arrive(store, people):
    app = _open(store, "dan")
    assert not app.exception
    assert any("workbench serve" in i.value and "events ingest" in i.value for i in app.info)


def test_filters_the_conversation_as_plain_text_and_export(store, people):
    _seed(store)
    app = _open(store, "dan")
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert len(app.dataframe[0].value) == 2
    app.text_input(key="events.where").input("segment=claims").run()
    assert not app.exception and len(app.dataframe[0].value) == 1
    texts = [t.value for t in app.text]
    assert "**Where** is my claim?" in texts and "<b>Soon</b> [click](http://evil.example)" in texts
    assert not any("evil.example" in m.value for m in app.markdown)
    app.selectbox(key="events.status").select("error").run()
    assert any("No event matches" in i.value for i in app.info)
    app.selectbox(key="events.status").select("All").run()
    app.text_input(key="events.export.name").input("claims-traffic")
    next(b for b in app.button if b.label == "Export").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any("claims-traffic@1" in s.value.replace("\\", "") for s in app.success)
    version = versions.get_version(store, actor=SYSTEM, ref="claims-traffic")
    assert version.rows == 1 and version.source.startswith("from events ")


def test_viewers_and_annotators_are_refused(store, people):
    _seed(store)
    for name in ("vic", "ann"):
        app = _open(store, name)
        assert not app.exception
        assert any("Not authorised" in e.value for e in app.error)
        assert not app.dataframe and not any("Soon" in t.value for t in app.text)


def test_an_embedding_call_shows_its_texts_and_no_answer(store, people):
    _seed(store)
    log_events(store, [EventIn(model="minilm-l6-v2", input={"input": ["refund my order", "reset my password"]},
                               endpoint="embeddings", application="search", metadata={"segment": "search"},
                               tokens_in=9, latency_s=0.02)])
    app = _open(store, "dan")
    app.text_input(key="events.where").input("segment=search").run()
    assert not app.exception and len(app.dataframe[0].value) == 1
    texts = [t.value for t in app.text]
    assert "refund my order" in texts and "reset my password" in texts
    assert "(an embedding call: the vectors are not recorded)" in texts
