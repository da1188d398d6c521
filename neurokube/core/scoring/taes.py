"""NEDC TAES (time-aligned event scoring), v6.0.0 semantics (``nedc_eeg_eval_taes``).

Partial credit relative to each reference event's duration, per label. The walk below keeps
NEDC's order and quirks, because they change the numbers:

- reference events are visited in timeline order; one is scored only if a hypothesis event of
  its label overlaps it strictly, and it has not been consumed yet;
- its candidate hypothesis events are those not yet consumed that overlap it on NEDC's
  whole-second test (the integer parts of the two intervals intersect);
- a hypothesis ending at or after the reference's end takes every later reference it touches
  (one full miss each); one ending before takes every later hypothesis touching the
  reference (their hits and false alarms add up);
- unconsumed reference events count one miss, unconsumed hypothesis events one false alarm.
"""
from neurokube.core.scoring.common import LABELS, Counts, Timeline

NAME = "taes"
FA_WEIGHT = 1.0


def _touches(a, b):
    """NEDC's ``anyovlp``: do ``range(int(start), int(stop) + 1)`` of a and b intersect."""
    a0, a1, b0, b1 = int(a[0]), int(a[1]), int(b[0]), int(b[1])
    return a0 <= a1 and b0 <= b1 and max(a0, b0) <= min(a1, b1)


def _hit_false_alarm(ref, hyp):
    """NEDC's ``calc_hf``: fractional hit and false alarm of one hypothesis on one reference."""
    r0, r1 = ref
    h0, h1 = hyp
    r_dur = r1 - r0
    if h0 <= r0 and h1 <= r1:
        return (h1 - r0) / r_dur, min((r0 - h0) / r_dur, 1.0)
    if h0 >= r0 and h1 >= r1:
        return (r1 - h0) / r_dur, min((h1 - r1) / r_dur, 1.0)
    if h0 < r0 and h1 > r1:
        return 1.0, min(((h1 - r1) + (r0 - h0)) / r_dur, 1.0)
    return (h1 - h0) / r_dur, 0.0


def _score_label(refs, hyps):
    hit = miss = false_alarm = 0.0
    ref_free = [True] * len(refs)
    hyp_free = [True] * len(hyps)
    for i, ref in enumerate(refs):
        if not ref_free[i] or not any(h1 > ref[0] and h0 < ref[1] for h0, h1 in hyps):
            continue
        for j, hyp in enumerate(hyps):
            if not hyp_free[j] or not _touches(ref, hyp):
                continue
            p_hit, p_fa = _hit_false_alarm(ref, hyp)
            p_miss = 1.0 - p_hit
            ref_free[i] = hyp_free[j] = False
            if hyp[1] >= ref[1]:
                for k in range(i + 1, len(refs)):
                    if _touches(refs[k], hyp):
                        ref_free[k] = False
                        p_miss += 1.0
            else:
                for k in range(j + 1, len(hyps)):
                    if _touches(ref, hyps[k]):
                        hyp_free[k] = False
                        more_hit, more_fa = _hit_false_alarm(ref, hyps[k])
                        p_hit += more_hit
                        p_miss -= more_hit
                        p_fa += more_fa
            hit += p_hit
            miss += p_miss
            false_alarm += p_fa
    miss += ref_free.count(True)
    false_alarm += hyp_free.count(True)
    return Counts(targets=len(refs), hits=hit, misses=miss, false_alarms=false_alarm)


def score(ref: Timeline, hyp: Timeline) -> dict[str, Counts]:
    """Score one pair of timelines; returns label -> Counts (fractional)."""
    return {label: _score_label(ref.of_label(label), hyp.of_label(label)) for label in LABELS}
