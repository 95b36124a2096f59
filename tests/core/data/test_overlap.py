import pandas as pd

from core.data import overlap, versions
from core.governance.roles import SYSTEM


def test_exact_and_near_contamination_are_found(store):
    train = pd.DataFrame({"prompt": ["How do I reset my password on the mobile app today?",
                                     "Where can I download last month's invoice as a PDF file?",
                                     "Why was my card charged twice for the pro subscription this month?"],
                          "completion": ["a", "b", "c"]})
    evaluation = pd.DataFrame({"prompt": ["how do i reset my password on the mobile app today?",   # exact after normalising
                                          "Why was my card charged twice for the pro subscription this week?",  # near
                                          "Can I change the language of the dashboard to German?"],
                               "completion": ["a", "x", "y"]})
    versions.save_version(store, actor=SYSTEM, name="train", frame=train, transformation="import", source="t")
    versions.save_version(store, actor=SYSTEM, name="eval", frame=evaluation, transformation="import", source="e")
    report = overlap.check_overlap(store, actor=SYSTEM, train_ref="train", eval_ref="eval", column="prompt",
                                   threshold=0.6)
    assert (report.exact, report.near, report.checked_eval_rows) == (1, 1, 3)
    assert {(e["kind"], e["eval_row"], e["train_row"]) for e in report.examples} == {("exact", 0, 0), ("near", 1, 2)}
    assert report.contaminated_share == 2 / 3
