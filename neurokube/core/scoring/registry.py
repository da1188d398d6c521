"""The scorers by name. A new scorer is one module (``NAME``, ``FA_WEIGHT``, ``score``) and
one line here.

``score(ref, hyp)`` takes two :class:`~neurokube.core.scoring.common.Timeline` and
returns label -> :class:`~neurokube.core.scoring.common.Counts`; ``FA_WEIGHT`` is the
seconds one false alarm weighs in the false-alarm rate (1 for event counts, where the rate is
per event). A scorer may add figures of its own pooled counts of every label
(``figures(label -> Counts) -> dict``, as IRA's kappa).
"""
from neurokube.core.scoring import dpalign, epoch, ira, overlap, szcore, taes

SCORERS = {module.NAME: module for module in (overlap, taes, epoch, dpalign, ira, szcore)}
DEFAULT_SCORERS = tuple(SCORERS)
