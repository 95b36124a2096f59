"""BLEU exactly as sacrebleu computes it, as an offline `evaluate` metric script.

Corpus score: `sacrebleu.corpus_bleu(predictions, [references])`.
Sentence scores: `sacrebleu.sentence_bleu(prediction, [reference])` per pair (effective order, exp smoothing).
One reference per prediction; scores on sacrebleu's 0-100 scale.
"""
import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "BLEU (sacrebleu defaults: 13a tokenizer, exp smoothing) on a 0-100 scale."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of model outputs (strings).
    references: list of reference strings, one per prediction.
    sentence_level: also return one sentence BLEU per pair (default True).
Returns:
    score: corpus BLEU (0-100).
    sentence_scores: list of sentence BLEU (0-100), only when sentence_level is True.
"""

_CITATION = """@inproceedings{post-2018-call,
    title = "A Call for Clarity in Reporting {BLEU} Scores",
    author = "Post, Matt",
    booktitle = "Proceedings of the Third Conference on Machine Translation: Research Papers",
    year = "2018",
}"""


class SacrebleuBleu(evaluate.Metric):
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
        corpus = sacrebleu.corpus_bleu(list(predictions), [list(references)])
        result = {"score": corpus.score}
        if sentence_level:
            result["sentence_scores"] = [
                sacrebleu.sentence_bleu(prediction, [reference]).score
                for prediction, reference in zip(predictions, references)
            ]
        return result
