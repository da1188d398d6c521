"""NEDC IRA (inter-rater agreement), v6.0.0 semantics (``nedc_eeg_eval_ira``).

The reference and the hypothesis are two raters of the same 0.25 s epochs as EPOCH samples
them (:mod:`~neurokube.core.scoring.epoch`); the confusion matrix of their labels, pooled
over recordings, gives Cohen's kappa, ``(p_o - p_e) / (1 - p_e)``. With two labels NEDC's
per-label kappas equal the multi-class kappa, which is what :func:`figures` reports. The
counts are EPOCH's.
"""
from neurokube.core.formats import BCKG, SEIZ
from neurokube.core.scoring import epoch
from neurokube.core.scoring.common import Counts

NAME = "ira"
FA_WEIGHT = epoch.FA_WEIGHT
score = epoch.score


def kappa(confusion: list[list[float]]) -> float:
    """Cohen's kappa of a square confusion matrix (rows: reference, columns: hypothesis);
    0 when the raters' agreement by chance is already total."""
    n = sum(map(sum, confusion))
    if not n:
        return 0.0
    observed = sum(confusion[k][k] for k in range(len(confusion))) / n
    chance = sum(sum(row) * sum(r[k] for r in confusion)
                 for k, row in enumerate(confusion)) / (n * n)
    return (observed - chance) / (1.0 - chance) if chance < 1.0 else 0.0


def figures(by_label: dict[str, Counts]) -> dict[str, float]:
    """``kappa`` and the confusion matrix ``[[seiz→seiz, seiz→bckg], [bckg→seiz,
    bckg→bckg]]`` (epochs) of pooled EPOCH counts of both labels."""
    seiz, bckg = by_label[SEIZ], by_label[BCKG]
    confusion = [[seiz.hits, seiz.misses], [seiz.false_alarms, bckg.hits]]
    return {"kappa": kappa(confusion), "confusion": confusion}
