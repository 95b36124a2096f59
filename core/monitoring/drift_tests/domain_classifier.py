"""Domain classifier, as Evidently does for text and embeddings: can a model tell current rows from reference rows?

A logistic regression is trained on half of a bounded, seeded sample (TF-IDF words for text, the vectors for
embeddings) and scored by ROC AUC on the other half: 0.5 means indistinguishable. For text, the words whose
weights point most towards the current data are returned (what grew).
"""
from __future__ import annotations

import numpy as np

from core.monitoring.drift_tests import register
from core.monitoring.drift_tests.base import DriftResult, fmt
from core.monitoring.drift_tests.sampling import sample_rows

MAX_ROWS = 5000  # per side


@register("domain_classifier", label="Domain classifier ROC AUC", kinds=("text", "embedding"), score="distance",
          threshold=0.55, help=f"ROC AUC of a classifier telling current from reference (<= {MAX_ROWS} rows a side, "
                               "half held out); drift at or above the threshold.")
def domain_classifier(reference, current, *, threshold: float, max_rows: int = MAX_ROWS, seed: int = 0) -> DriftResult:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    ref, _ = sample_rows(reference, max_rows, seed)
    cur, _ = sample_rows(current, max_rows, seed + 1)
    is_text = not isinstance(ref, np.ndarray) or ref.dtype == object
    labels = np.concatenate([np.zeros(len(ref)), np.ones(len(cur))])
    vocabulary = None
    if is_text:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(max_features=20_000, sublinear_tf=True, min_df=2)
        features = vectorizer.fit_transform([str(t) for t in list(ref) + list(cur)])
        vocabulary = vectorizer.get_feature_names_out()
    else:
        features = np.vstack([np.asarray(ref, dtype=np.float32), np.asarray(cur, dtype=np.float32)])
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.5, random_state=seed,
                                                        stratify=labels)
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    drift = auc >= threshold
    details: dict = {"sampled": [len(ref), len(cur)]}
    if vocabulary is not None:
        order = np.argsort(model.coef_[0])[::-1][:10]
        details["words_towards_current"] = [str(vocabulary[i]) for i in order if model.coef_[0][i] > 0]
    return DriftResult(test="domain_classifier", statistic=auc, p_value=None, threshold=threshold,
                       drift_detected=drift, reference_size=len(reference), current_size=len(current),
                       sentence=f"A classifier tells current from reference rows with ROC AUC {fmt(auc)} "
                                f"({'at or above' if drift else 'below'} {threshold}; 0.5 means no difference).",
                       details=details)
