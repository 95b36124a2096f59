"""LLM-as-judge, pairwise: the candidate's answer against the baseline model's answer to the same case, asked in both
orders to cancel position bias; passes when the candidate wins (value 1 win, 0.5 tie or inconsistent, 0 loss)."""
from typing import Any

from core.errors import Unavailable
from core.evaluation import judge as judging
from core.evaluation.checks.base import Check, CheckInput, CheckResult


def run(inputs: list[CheckInput], params: dict[str, Any]) -> list[CheckResult]:
    rubric = str(params.get("rubric") or judging.DEFAULT_PAIRWISE_RUBRIC)
    results: list[CheckResult] = [CheckResult(None, None, "No baseline answer to compare with.")] * len(inputs)
    paired = [i for i, item in enumerate(inputs) if item.baseline_output is not None]
    if not paired:
        return results
    judge = inputs[paired[0]].judge
    if judge is None:
        raise Unavailable("The pairwise judge check needs a judge model; choose one for the run.")
    conversations = []
    for i in paired:
        item = inputs[i]
        conversations.append(judging.pairwise_messages(rubric, item.prompt, item.output, item.baseline_output))
        conversations.append(judging.pairwise_messages(rubric, item.prompt, item.baseline_output, item.output))
    replies = judge.complete(conversations)
    for n, i in enumerate(paired):
        first, second = replies[2 * n], replies[2 * n + 1]
        a, b = judging.parse_winner(first), judging.parse_winner(second)
        value = judging.pairwise_value(a, b)
        orders = f"candidate first: {a or '?'}, baseline first: {b or '?'}"
        if value is None:
            results[i] = CheckResult(None, None, f"The judge gave no verdict ({orders}).")
            continue
        verdict = {1.0: "Candidate wins", 0.0: "Baseline wins", 0.5: "Tie or position-dependent"}[value]
        results[i] = CheckResult(value, value > 0.5, f"{verdict} ({orders}). {judging.parse_reason(first)}")
    return results


CHECK = Check("judge_pairwise", "Judge: pairwise vs baseline", "judge", __doc__, run)
