import pandas as pd
import pytest

from core.data.formats import chat_problems, check_format, detect_format, training_texts
from core.errors import InvalidInput

GOOD_CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello!"}]


def test_chat_format_is_detected_and_every_broken_conversation_listed():
    frame = pd.DataFrame({"messages": [
        GOOD_CHAT,
        GOOD_CHAT[:2],                                                    # ends on the user
        [{"role": "assistant", "content": "Hi"}],                         # starts with the assistant
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
        [{"role": "user", "content": "a"}, {"role": "assistant", "content": "  "}],
        [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}],
        "not a list",
        [],
    ]})
    report = detect_format(frame)
    assert report.format == "chat" and not report.ready
    problems = {(i.row, i.problem) for i in report.issues}
    assert (1, "the conversation does not end with an assistant reply") in problems
    assert (2, "the conversation does not start with a user message") in problems
    assert (3, "two user messages in a row") in problems
    assert (4, "message 2 (assistant) has no text") in problems
    assert (5, "message 2 has an unknown role 'robot'") in problems
    assert 6 in {r for r, _ in problems} and 7 in {r for r, _ in problems}
    assert 0 not in {r for r, _ in problems}


def test_sharegpt_style_conversations_count_as_chat():
    assert chat_problems([{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]) == []


def test_preference_pairs_flag_missing_and_identical_answers():
    frame = pd.DataFrame({"prompt": ["q1", "q2", "q3"], "chosen": ["good", "same", None],
                          "rejected": ["bad", "same", "x"]})
    report = detect_format(frame)
    assert report.format == "preference"
    assert {(i.row, i.problem) for i in report.issues} == {
        (1, "chosen and rejected are the same text"), (2, "chosen (chosen) is missing")}


def test_instruction_response_and_prompt_completion():
    inst = detect_format(pd.DataFrame({"instruction": ["Sum 2+2", ""], "input": ["", ""], "output": ["4", "x"]}))
    assert inst.format == "instruction_response" and inst.columns["response"] == "output"
    assert [(i.row, i.problem) for i in inst.issues] == [(1, "instruction (instruction) is empty")]
    pc = detect_format(pd.DataFrame({"Prompt": ["a"], "Completion": ["b"]}))
    assert pc.format == "prompt_completion" and pc.ready


def test_unknown_format_says_what_it_expected():
    report = detect_format(pd.DataFrame({"text": ["a"]}))
    assert report.format == "unknown" and "expected a messages column" in report.explanation


def test_training_text_joins_all_turns():
    frame = pd.DataFrame({"messages": [GOOD_CHAT]})
    assert training_texts(frame, detect_format(frame)).tolist() == ["Be brief.\nHi\nHello!"]


@pytest.mark.parametrize("names, fmt, columns", [
    (("prompt", "response"), "prompt_completion", {"prompt": "prompt", "completion": "response"}),
    (("Input", "Output"), "prompt_completion", {"prompt": "Input", "completion": "Output"}),
    (("question", "answer"), "prompt_completion", {"prompt": "question", "completion": "answer"}),
    (("instruction", "output"), "instruction_response", {"instruction": "instruction", "response": "output"}),
    (("instruction", "input", "output"), "instruction_response",
     {"instruction": "instruction", "response": "output", "input": "input"}),
])
def test_the_common_column_names_are_recognised(names, fmt, columns):
    frame = pd.DataFrame({name: ["some text", "more text"] for name in names})
    report = detect_format(frame)
    assert (report.format, report.columns, report.ready) == (fmt, columns, True)


def test_a_mapping_checks_columns_whose_names_differ_and_the_fine_tune_reads_the_same():
    from core.finetune.config import FinetuneConfig
    from core.finetune.examples import resolve_format

    frame = pd.DataFrame({"ask": ["Hi?", None], "reply": ["Hello.", "Fine."]})
    assert detect_format(frame).format == "unknown"
    report = check_format(frame, "prompt_completion", {"prompt": "ask", "completion": "reply"})
    assert report.format == "prompt_completion" and report.issue_count == 1
    assert report.issues[0].problem == "prompt (ask) is missing"
    config = FinetuneConfig(base_model="m", dataset="d", format="prompt_completion", prompt_column="ask",
                            response_column="reply")
    assert resolve_format(frame, config).columns == report.columns
    with pytest.raises(InvalidInput, match="no column named 'nope'"):
        check_format(frame, "prompt_completion", {"prompt": "nope", "completion": "reply"})
    with pytest.raises(InvalidInput, match="Choose a column for completion"):
        check_format(frame, "prompt_completion", {"prompt": "ask"})
