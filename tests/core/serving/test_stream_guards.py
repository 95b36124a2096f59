"""Output guards over a streamed answer (core.serving.guards.StreamedOutput), with the real guards, fed the way the
server feeds it: one small delta at a time."""
from core.serving import guards

ANSWER = ("Thanks for writing. You can reach our billing team at maria.lopez@example.com or on +44 20 7946 0958, "
          "and they will refund the order within five days.")


def _stream(version, text, size=3):
    out = guards.StreamedOutput(version)
    sent = []
    for start in range(0, len(text), size):
        sent.append(out.feed(text[start:start + size]))
        if out.blocked:
            break
    sent.append(out.finish())
    return out, sent


def test_a_redacting_guard_never_lets_the_raw_span_out_and_ends_with_the_guarded_answer():
    version = {"guardrails": {"output": [{"guard": "pii", "action": "redact"}]}}
    out, sent = _stream(version, ANSWER)
    expected, hits, _ = guards.apply_output(version, ANSWER)
    assert "".join(sent) == expected == out.sent and "maria" not in expected
    for i in range(len(sent) + 1):  # no prefix the client saw holds any part of the address or number
        assert "maria" not in "".join(sent[:i]) and "7946" not in "".join(sent[:i])
    assert sum(1 for s in sent[:-1] if s) > 3  # it streamed: text went out before the end
    assert out.hits == hits and not out.blocked


def test_a_blocking_guard_stops_the_answer_before_the_word_it_found():
    version = {"guardrails": {"output": [{"guard": "deny_list", "words": ["refund"], "action": "block"}],
                              "blocked_reply": "Sorry."}}
    out, sent = _stream(version, ANSWER)
    assert out.blocked and "refund" not in "".join(sent) and out.sent == "".join(sent)
    assert [(h["guard"], h["action"]) for h in out.hits] == [("deny_list", "block")]


def test_a_whole_answer_guard_that_blocks_holds_the_answer_and_sends_the_blocked_reply():
    version = {"guardrails": {"output": [{"guard": "json_schema", "schema": {"type": "object"}, "action": "block"}],
                              "blocked_reply": "Sorry."}}
    out, sent = _stream(version, ANSWER)
    assert sent[:-1] == [""] * (len(sent) - 1) and sent[-1] == "Sorry." and out.blocked


def test_without_output_guards_every_delta_goes_out_at_once():
    out, sent = _stream(None, ANSWER)
    assert sent[:-1] == [ANSWER[i:i + 3] for i in range(0, len(ANSWER), 3)] and sent[-1] == ""
