"""chrF exactly as sacrebleu computes it, as an offline `evaluate` metric script.

Corpus score: `sacrebleu.corpus_chrf(predictions, [references])`.
Sentence scores: `sacrebleu.sentence_chrf(prediction, [reference])` per pair.
sacrebleu defaults (character order 6, word order 0, beta 2); one reference per prediction; 0-100 scale.
"""
import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "chrF (sacrebleu defaults: char order 6, word order 0, beta 2) on a 0-100 scale."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of model outputs (strings).
    references: list of reference strings, one per prediction.
    sentence_level: also return one sentence chrF per pair (default True).
Returns:
    score: corpus chrF (0-100).
    sentence_scores: list of sentence chrF (0-100), only when sentence_level is True.
"""

_CITATION = """@inproceedings{popovic-2015-chrf,
    title = "chr{F}: character n-gram {F}-score for automatic {MT} evaluation",
    author = "Popovi{\\'c}, Maja",
    booktitle = "Proceedings of the Tenth Workshop on Statistical Machine Translation",
    year = "2015",
}"""


class SacrebleuChrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            codebase_urls=["https://github.com/mjpost/sacreBLEU"],
        )

    def _compute(self, predictions, references, sentence_level=True):
        corpus = sacrebleu.corpus_chrf(list(predictions), [list(references)])
        result = {"score": corpus.score}
        if sentence_level:
            result["sentence_scores"] = [
                sacrebleu.sentence_chrf(prediction, [reference]).score
                for prediction, reference in zip(predictions, references)
            ]
        return result
