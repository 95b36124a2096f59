"""Prompt templates: versions are immutable, labels move, diffs show changes, rendering is sandboxed."""
import pytest

from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.governance.audit import AuditFilter, list_events
from core.governance.roles import SYSTEM, Role
from core.prompts import templates
from core.prompts.render import render_messages, render_text


def test_saving_makes_numbered_versions_and_identical_content_makes_none(store):
    v1, made = templates.save_version(store, actor=SYSTEM, name="summary", body="Summarise: {{ text }}")
    assert made and v1.ref == "summary@1" and v1.variables == ["text"]
    again, made = templates.save_version(store, actor=SYSTEM, name="summary", body="Summarise: {{ text }}")
    assert not made and again.ref == "summary@1"
    v2, made = templates.save_version(store, actor=SYSTEM, name="summary", body="Summarise in {{ n }} words: {{ text }}",
                                      system="You are {{ persona }}.", note="shorter")
    assert made and v2.ref == "summary@2" and v2.variables == ["n", "persona", "text"]
    assert templates.get_version(store, actor=SYSTEM, ref="summary").version == 2
    assert templates.get_version(store, actor=SYSTEM, ref="summary@1").body == "Summarise: {{ text }}"
    [info] = templates.list_templates(store, actor=SYSTEM)
    assert (info.name, info.versions, info.latest) == ("summary", 2, 2)
    assert [v.version for v in templates.list_versions(store, actor=SYSTEM, name="summary")] == [2, 1]


def test_labels_point_at_one_version_and_move_with_an_audit_trail(store):
    templates.save_version(store, actor=SYSTEM, name="reply", body="Reply to {{ ticket }}")
    templates.save_version(store, actor=SYSTEM, name="reply", body="Reply briefly to {{ ticket }}")
    templates.set_label(store, actor=SYSTEM, ref="reply@1", label="Production")
    assert templates.get_version(store, actor=SYSTEM, ref="reply@production").version == 1
    moved = templates.set_label(store, actor=SYSTEM, ref="reply@2", label="production")
    assert moved.labels == ["production"]
    assert templates.get_version(store, actor=SYSTEM, ref="reply@1").labels == []
    assert templates.list_templates(store, actor=SYSTEM)[0].labels == {"production": 2}
    events = list_events(store, actor=SYSTEM, filters=AuditFilter(action="prompt.label"))
    assert events[0].before == {"version": 1} and events[0].after == {"label": "production", "version": 2}
    templates.remove_label(store, actor=SYSTEM, name="reply", label="production")
    with pytest.raises(NotFound, match="no version labelled 'production'"):
        templates.get_version(store, actor=SYSTEM, ref="reply@production")
    with pytest.raises(InvalidInput, match="not a valid label"):
        templates.set_label(store, actor=SYSTEM, ref="reply@2", label="2")
    with pytest.raises(NotFound, match="no version 7"):
        templates.set_label(store, actor=SYSTEM, ref="reply@7", label="staging")


def test_diff_between_versions_shows_changed_lines(store):
    templates.save_version(store, actor=SYSTEM, name="t", body="Line one\nSummarise {{ x }}")
    templates.save_version(store, actor=SYSTEM, name="t", body="Line one\nSummarise {{ x }} briefly", system="Be kind")
    diff = templates.diff_versions(store, actor=SYSTEM, old="t@1", new="t@2")
    assert diff.changed
    assert "-Summarise {{ x }}" in diff.lines and "+Summarise {{ x }} briefly" in diff.lines
    assert "+[system] Be kind" in diff.lines and " Line one" in diff.lines
    assert not templates.diff_versions(store, actor=SYSTEM, old="t@2", new="t@2").changed


def test_a_broken_template_is_refused_with_its_line_and_nothing_is_stored(store):
    with pytest.raises(InvalidInput, match="syntax error on line 2"):
        templates.save_version(store, actor=SYSTEM, name="bad", body="ok\n{% if x %}unclosed")
    with pytest.raises(InvalidInput, match="The system prompt has a syntax error"):
        templates.save_version(store, actor=SYSTEM, name="bad", body="fine", system="{{ broken")
    with pytest.raises(InvalidInput, match="empty"):
        templates.save_version(store, actor=SYSTEM, name="bad", body="   ")
    with pytest.raises(InvalidInput, match="not a valid template name"):
        templates.save_version(store, actor=SYSTEM, name="../etc", body="x")
    assert templates.list_templates(store, actor=SYSTEM) == []


def test_only_roles_that_build_prompts_may_save_and_annotators_cannot_read(store, people):
    dan, ann, vic = (people[r].as_actor() for r in (Role.DATA_SCIENTIST, Role.ANNOTATOR, Role.VIEWER))
    templates.save_version(store, actor=dan, name="mine", body="Hi {{ name }}")
    for actor in (ann, vic):
        with pytest.raises(PermissionDenied):
            templates.save_version(store, actor=actor, name="mine", body="Changed {{ name }}")
        with pytest.raises(PermissionDenied):
            templates.set_label(store, actor=actor, ref="mine@1", label="production")
    with pytest.raises(PermissionDenied):
        templates.get_version(store, actor=ann, ref="mine")
    assert templates.get_version(store, actor=dan, ref="mine").created_by == "dan"
    with pytest.raises(Conflict):
        templates.ensure_new_name(store, "mine")


def test_rendering_fills_variables_and_refuses_missing_ones():
    messages = render_messages("Summarise: {{ text | trim }}", {"text": "  a ticket ", "tone": "brief"},
                               system="Be {{ tone }}.")
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Summarise: a ticket"}]
    with pytest.raises(InvalidInput, match="'text' is undefined"):
        render_messages("Summarise: {{ text }}", {})


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ text.__class__ }}",
    "{% set x = [] %}{{ x.append(1) }}",
])
def test_the_sandbox_refuses_escapes_and_mutation(attack):
    with pytest.raises(InvalidInput):
        render_text(attack, {"text": "x"})


def test_a_template_cannot_render_unbounded_output():
    with pytest.raises(InvalidInput, match="more than 200,000 characters"):
        render_text("{% for i in range(100000) %}{% for j in range(100) %}xxxx{% endfor %}{% endfor %}", {})


def test_dataset_text_is_filled_in_as_data_not_run_as_template():
    assert render_text("Q: {{ q }}", {"q": "{{ 7*7 }} {% for %}"}) == "Q: {{ 7*7 }} {% for %}"
