"""ROUGE F-measures exactly as Google's rouge-score computes them, as an offline `evaluate` metric script.

Each pair is scored with `rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer).score(reference,
prediction)`; the corpus value of a type is the plain mean of the sentence F-measures (no bootstrap).
Note rouge-score's default tokenizer lowercases and keeps only ASCII letters and digits, so text in other
scripts yields no tokens and a score of 0.
"""
import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = "ROUGE F-measure per pair (rouge-score), corpus value as the mean, on a 0-1 scale."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of model outputs (strings).
    references: list of reference strings, one per prediction.
    rouge_types: ROUGE variants to compute (default rouge1, rouge2, rougeL).
    use_stemmer: apply the Porter stemmer to tokens (default False, as in rouge-score).
Returns:
    <type>: mean F-measure over the pairs (0-1), None for no pairs.
    <type>_sentences: list of F-measures, one per pair.
"""

_CITATION = """@inproceedings{lin-2004-rouge,
    title = "{ROUGE}: A Package for Automatic Evaluation of Summaries",
    author = "Lin, Chin-Yew",
    booktitle = "Text Summarization Branches Out",
    year = "2004",
}"""


class RougeF(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references, rouge_types=("rouge1", "rouge2", "rougeL"), use_stemmer=False):
        rouge_types = list(rouge_types)
        scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer)
        per_type = {rouge_type: [] for rouge_type in rouge_types}
        for prediction, reference in zip(predictions, references):
            scores = scorer.score(reference, prediction)  # rouge-score takes (target, prediction)
            for rouge_type in rouge_types:
                per_type[rouge_type].append(scores[rouge_type].fmeasure)
        result = {}
        for rouge_type, values in per_type.items():
            result[rouge_type] = sum(values) / len(values) if values else None
            result[f"{rouge_type}_sentences"] = values
        return result
