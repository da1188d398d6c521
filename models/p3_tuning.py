"""Tuning of P3 (fusion and post-processing) on the dev set, under a false-alarm budget.

Example::

    params, table = tune_p3(recording_results(dev, detector), config.step_s, TrainConfig())
"""
import itertools
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from neurokube.models.config import P3Params
from neurokube.models.evaluation import (
    background_flagged, corpus_metrics, recording_events)

if TYPE_CHECKING:
    from neurokube.models.evaluation import RecordingResult
    from neurokube.models.training import TrainConfig


def _flagged_pct(results, events_of):
    background_s, flagged_s, _ = background_flagged(results, events_of)
    return 100.0 * flagged_s / background_s if background_s else 0.0


def tune_p3(results: Sequence["RecordingResult"], step_s: float, train_cfg: "TrainConfig",
            corpus_of: Mapping[str, str] | None = None
            ) -> tuple[P3Params, list[tuple[dict[str, Any], float, float, float]]]:
    """Grid search of the P3 parameters on the dev set, under a false-alarm budget.

    Objective (CHOICE): among the grid points whose NEDC OVERLAP false-alarm rate is
    within ``fa_budget_per_24h`` and whose share of background seconds flagged is within
    ``background_budget_pct`` (over the whole dev set, and in every dev corpus on its own
    when ``background_budget_each_corpus``; ``corpus_of`` maps a recording name to its
    corpus), the highest OVERLAP sensitivity, then the highest TAES sensitivity, then the
    fewest false alarms, then the earlier grid point. When no point keeps to both
    budgets, the one flagging the least background (then with the fewest false alarms)
    is taken.
    """
    corpora = {}
    if train_cfg.background_budget_each_corpus and corpus_of:
        for r in results:
            corpora.setdefault(corpus_of.get(r.name, ""), []).append(r)
    best, best_key, table = None, None, []
    grid = itertools.product(train_cfg.p3_thresholds, train_cfg.p3_p2_weights,
                             train_cfg.p3_merge_gaps_s, train_cfg.p3_min_durations_s,
                             train_cfg.p3_min_channels, train_cfg.p3_top_k)
    for threshold, weight, gap, min_dur, min_ch, top_k in grid:
        params = P3Params(p2_weight=weight, top_k=top_k, threshold=threshold,
                          merge_gap_s=gap, min_duration_s=min_dur, min_channels=min_ch)
        events_of = recording_events(results, params, step_s)
        m = corpus_metrics(results, params, step_s, scorers=("overlap", "taes"),
                           events_of=events_of)
        fa = m["overlap"]["fa_per_24h"]
        flagged = max([m["background_flagged_pct"]] + [
            _flagged_pct(group, events_of) for group in corpora.values()])
        within = (fa <= train_cfg.fa_budget_per_24h + 1e-9
                  and flagged <= train_cfg.background_budget_pct + 1e-9)
        if within:
            key = (1, round(m["overlap"]["sensitivity_pct"], 9),
                   round(m["taes"]["sensitivity_pct"], 9), -fa)
        else:
            key = (0, -round(flagged, 9), -fa, 0.0)
        table.append((params.to_dict(), m["overlap"]["sensitivity_pct"], fa, flagged))
        if best_key is None or key > best_key:
            best, best_key = params, key
    return best, table


def dev_metrics(results: Sequence["RecordingResult"], params: P3Params, step_s: float
                ) -> dict[str, Any]:
    """The dev figures a model card records for one operating point (OVERLAP and TAES,
    background flagged, longest false event); ``step_s``: the model's step, s."""
    m = corpus_metrics(results, params, step_s, scorers=("overlap", "taes"))
    return {k: m[k] for k in ("overlap", "taes", "files", "total_duration_s",
                              "background_flagged_pct", "longest_false_event_s")}
