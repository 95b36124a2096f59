"""LLM-as-judge, pointwise: the judge grades the answer 1-5 against `rubric` with a reason; passes at or above
`threshold` (default 4). The value is the score scaled to 0-1 ((score-1)/4)."""
from typing import Any

from core.errors import InvalidInput, Unavailable
from core.evaluation import judge as judging
from core.evaluation.checks.base import Check, CheckInput, CheckResult, number


def run(inputs: list[CheckInput], params: dict[str, Any]) -> list[CheckResult]:
    rubric = str(params.get("rubric") or "").strip()
    if not rubric:
        raise InvalidInput("A judge rubric check needs the rubric text in rubric.")
    threshold = number(params, "threshold", 4)
    if not inputs:
        return []
    judge = inputs[0].judge
    if judge is None:
        raise Unavailable("The judge rubric check needs a judge model; choose one for the run.")
    replies = judge.complete([judging.pointwise_messages(rubric, item.prompt, item.output) for item in inputs])
    results = []
    for reply in replies:
        score = judging.parse_score(reply)
        reason = judging.parse_reason(reply)
        if score is None:
            results.append(CheckResult(None, None, f"The judge gave no score: {reason[:200]!r}."))
        else:
            results.append(CheckResult((score - 1) / 4, score >= threshold, f"Score {score}/5. {reason}"))
    return results


CHECK = Check("judge_rubric", "Judge: rubric score", "judge", __doc__, run, defaults={"threshold": 4})
