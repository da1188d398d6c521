"""NEDC DPALIGN scoring, v6.0.0 semantics (``nedc_eeg_eval_dpalign``).

The label sequences of the two timelines (one label per event, framed by a null symbol) are
aligned by Levenshtein distance with insertion, deletion and substitution penalties of 1.
Ties choose substitution, then insertion, then deletion, and the path is traced back from the
end, as NEDC does. Per label: targets are aligned reference events, hits matches, misses
deletions plus substitutions, false alarms insertions of the label.
"""
from typing import Sequence

import numpy as np

from neurokube.core.scoring.common import LABELS, Counts, Timeline

NAME = "dpalign"
FA_WEIGHT = 1.0
_NULL = -1
_SUB, _INS, _DEL = 0, 1, 2


def align(ref_codes: Sequence[int], hyp_codes: Sequence[int]) -> list[tuple[int, int]]:
    """Align two label sequences.

    Parameters
    ----------
    ref_codes, hyp_codes : sequence of int
        Label codes (non-negative).

    Returns
    -------
    list of (int, int)
        Aligned ``(ref, hyp)`` pairs in order, ``-1`` marking an insertion or deletion; the
        framing null symbols are not included.
    """
    ref = np.array([_NULL, *ref_codes, _NULL])
    hyp = np.array([_NULL, *hyp_codes, _NULL])
    m, n = len(ref), len(hyp)
    rows = np.arange(m)
    cost = np.empty((m, n))
    cost[:, 0] = rows
    for j in range(1, n):
        # best of substitution and insertion, then deletions run down the column:
        # d[i] = min(b[i], d[i-1] + 1)  ==  cummin(b - i) + i
        best = np.empty(m)
        best[0] = j
        best[1:] = np.minimum(cost[:-1, j - 1] + (ref[1:] != hyp[j]), cost[1:, j - 1] + 1)
        cost[:, j] = np.minimum.accumulate(best - rows) + rows
    pairs = []
    i, j = m - 1, n - 1
    while i > 0 or j > 0:
        if i == 0:
            step = _INS
        elif j == 0:
            step = _DEL
        else:
            sub = cost[i - 1, j - 1] + (ref[i] != hyp[j])
            ins = cost[i, j - 1] + 1
            dele = cost[i - 1, j] + 1
            step = _DEL if dele < min(sub, ins) else _INS if ins < sub else _SUB
        if step == _SUB:
            pairs.append((int(ref[i]), int(hyp[j])))
            i, j = i - 1, j - 1
        elif step == _INS:
            pairs.append((_NULL, int(hyp[j])))
            j -= 1
        else:
            pairs.append((int(ref[i]), _NULL))
            i -= 1
    pairs.reverse()
    return pairs[:-1]


def score(ref: Timeline, hyp: Timeline) -> dict[str, Counts]:
    """Score one pair of timelines; returns label -> Counts (event counts)."""
    codes = {label: code for code, label in enumerate(LABELS)}
    pairs = align([codes[e[2]] for e in ref.events], [codes[e[2]] for e in hyp.events])
    tallies = {code: [0, 0, 0, 0] for code in codes.values()}
    for r, h in pairs:
        if r == _NULL:
            tallies[h][3] += 1
        else:
            tallies[r][0] += 1
            tallies[r][1 if r == h else 2] += 1
    return {label: Counts(*tallies[code]) for label, code in codes.items()}
