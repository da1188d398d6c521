"""The gradient-boosting baseline a detector must beat, scored on the corpora of its card.

A gradient-boosting classifier (scikit-learn's ``HistGradientBoostingClassifier``) learns,
per channel and per 1 s step, from the mean and the spread (standard deviation) of the 26
LFCC features over the step's ten 0.1 s frames: the features of the bundle's own feature
spec (0.5-40 Hz band-pass, notches, montage), standardised as the bundle standardises
them. It trains on exactly the recordings the bundle was trained on (the train job's
examples and the splits its ``bundle.json`` records), with the same class and corpus
weighting; its channel probabilities go through P3, tuned on the bundle's dev corpora
under the bundle's budgets and grid (its recorded train config); every ``--corpus`` is
scored as ``neurokube evaluate`` scores it. The output sets the baseline's figures beside
the bundle's card figures for the same corpus names.

Usage::

    python benchmarks/baseline_gbm.py --bundle WORK/reference \\
        --examples WORK/reference.examples --output WORK/baseline \\
        --corpus stitched_eval=WORK/tcp_eval/edf --corpus real_bg_dev=WORK/dev_bg.list ...

Writes ``OUTPUT/baseline.json`` and ``OUTPUT/baseline.md``; needs ``scikit-learn``
(``pip install -e '.[bench]'``).
"""
import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

from neurokube.models.bundle import ModelBundle
from neurokube.models.evaluation import (
    DEFAULT_THRESHOLDS, RecordingResult, corpus_metrics, operating_points)
from neurokube.models.p3_tuning import tune_p3
from neurokube.models.training import (
    TrainConfig, read_examples, standardise_examples, window_weights)
from neurokube.pipelines import options as opts
from neurokube.pipelines.train_job import _read_split, build_examples_pipeline, recorded_command


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
    """The baseline's CHOICES (recorded in ``baseline.json``)."""

    max_iter: int = 300
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    # Background channel-seconds kept per seizure channel-second (drawn with the seed).
    background_per_seizure: float = 6.0


def step_moments(example, config) -> np.ndarray:
    """(C, S, 2F): mean and standard deviation of each feature over each step's frames."""
    c, s, _ = example.steps.shape
    frames = example.steps.reshape(c, s, config.frames_per_step, config.n_features)
    return np.concatenate([frames.mean(axis=2), frames.std(axis=2)], axis=-1)


def training_rows(examples, config, cfg: BaselineConfig, train_cfg: TrainConfig):
    """(X, y, weights) of every present channel-second's moments: all seizure rows and a
    seeded draw of background rows, weighted as the detector's windows are."""
    xs, ys, corpora = [], [], []
    for ex in examples:
        moments = step_moments(ex, config)
        for c in np.flatnonzero(ex.mask):
            xs.append(moments[c])
            ys.append(ex.channel_labels[c])
            corpora.append(np.full(moments.shape[1], ex.corpus, object))
    x, y, corpora = np.concatenate(xs), np.concatenate(ys), np.concatenate(corpora)
    rng = np.random.default_rng(train_cfg.seed)
    seizure, background = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    keep = min(len(background), int(cfg.background_per_seizure * max(len(seizure), 1)))
    rows = np.sort(np.concatenate([seizure, rng.choice(background, keep, replace=False)]))
    return x[rows], y[rows], window_weights(y[rows], list(corpora[rows]), train_cfg)


def results_of(classifier, examples, config) -> list[RecordingResult]:
    """Per-recording channel probabilities (absent channels 0) as RecordingResults."""
    out = []
    for ex in examples:
        moments = step_moments(ex, config)
        c, s, v = moments.shape
        p = classifier.predict_proba(moments.reshape(c * s, v))[:, 1].reshape(c, s)
        p = p.astype(np.float32)
        p[~ex.mask] = 0.0
        out.append(RecordingResult(ex.path, ex.duration_s, list(ex.seizures), p,
                                   np.zeros(s, np.float32), ex.mask))
    return out


def featurise(corpora: dict[str, str], folder: str, bundle: ModelBundle) -> dict:
    """Examples of each corpus (recordings and the references beside them), written with
    the train job's pipeline under ``folder``; reused by a later run only for the same
    corpus spec and feature spec (the folder's name hashes both)."""
    import hashlib
    import shutil
    import apache_beam as beam
    spec_json = json.dumps(bundle.feature_spec.to_dict(), sort_keys=True)
    out = {}
    for name, spec in corpora.items():
        key = hashlib.sha256(f"{spec}\n{spec_json}".encode()).hexdigest()[:12]
        sub = os.path.join(folder, f"{name}-{key}")
        if not os.path.isdir(sub):
            shutil.rmtree(sub + ".tmp", ignore_errors=True)  # left by an interrupted run
            with beam.Pipeline(options=opts.pipeline_options([])) as p:
                build_examples_pipeline(p, {"corpus": opts.list_inputs([spec])}, sub + ".tmp",
                                        bundle.feature_spec, bundle.config)
            os.replace(sub + ".tmp", sub)
        out[name] = read_examples(os.path.join(sub, "corpus-*.tfrecord"))
    return out


def best_within(points, fa_budget, background_budget):
    """The operating point of highest OVERLAP sensitivity within both budgets, or None."""
    ok = [pt for pt in points if pt["overlap_fa_per_24h"] <= fa_budget + 1e-9
          and pt["background_flagged_pct"] <= background_budget + 1e-9]
    return max(ok, key=lambda pt: (pt["overlap_sensitivity_pct"], pt["threshold"]),
               default=None)


def card_rows(bundle: ModelBundle) -> dict[str, dict]:
    """The bundle's recorded evaluation rows (its card's figures) by corpus name."""
    return {row["corpus"]: row for row in (bundle.evaluation or {}).get("rows", [])}


def markdown(board: dict) -> str:
    def cell(m):
        return f"{m['overlap_sensitivity_pct']:.2f} % at {m['overlap_fa_per_24h']:.2f}"

    def best(pt):
        return f"{cell(pt)} (threshold {pt['threshold']:g})" if pt else "none"

    lines = [f"# Gradient-boosting baseline beside bundle {board['bundle_version']}", "",
             f"Baseline P3 (tuned on {', '.join(board['tuned_on'])}): `{board['p3']}`.",
             f"Budgets: {board['fa_budget_per_24h']:g} FA/24h, "
             f"{board['background_budget_pct']:g} % background flagged.", "",
             "| corpus | baseline: OVERLAP % at FA/24h | baseline: best within budgets | "
             "baseline: background flagged | bundle: OVERLAP % at FA/24h | "
             "bundle: best within budgets |", "|---|---|---|---|---|---|"]
    for row in board["rows"]:
        card = row.get("bundle")
        lines.append(
            f"| {row['corpus']} | {cell(row['chosen'])} | {best(row['best_within_budgets'])} "
            f"| {row['chosen']['background_flagged_pct']:.3f} % | "
            f"{cell(card['chosen']) if card else 'not in the card'} | "
            f"{best(card['best_within_budgets']) if card else ''} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="the trained bundle's folder")
    parser.add_argument("--examples", required=True,
                        help="the examples folder its train job wrote (--examples)")
    parser.add_argument("--corpus", action="append", required=True, metavar="NAME=PATH",
                        help="an annotated corpus to score (as neurokube evaluate's)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    try:
        from sklearn import __version__ as sklearn_version
        from sklearn.ensemble import HistGradientBoostingClassifier
    except ImportError:
        sys.exit("needs scikit-learn: pip install -e '.[bench]'")
    started = time.time()
    bundle = ModelBundle.load(args.bundle, with_models=False)
    training = bundle.training
    splits = training["splits"]
    # The baseline has no P2: its fused posterior is the top-k mean of the channels alone.
    train_cfg = dataclasses.replace(TrainConfig.from_dict(training["train_config"]),
                                    p3_p2_weights=(0.0,))
    cfg = BaselineConfig()
    if not all("=" in spec for spec in args.corpus):
        parser.error("--corpus takes NAME=PATH")
    corpora = dict(spec.split("=", 1) for spec in args.corpus)
    os.makedirs(args.output, exist_ok=True)

    train = _read_split(args.examples, "train", splits["train"])
    recorded = training.get("data", {}).get("train_recordings")
    if recorded is not None and recorded != len(train):
        sys.exit(f"--examples {args.examples} holds {len(train)} training recordings, but "
                 f"bundle {bundle.version} was trained on {recorded}: not its examples")
    standardise_examples(train, bundle.config)
    x, y, weights = training_rows(train, bundle.config, cfg, train_cfg)
    del train
    classifier = HistGradientBoostingClassifier(
        max_iter=cfg.max_iter, learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes, early_stopping=False,
        random_state=train_cfg.seed % (2 ** 32))
    classifier.fit(x, y, sample_weight=weights)
    print(f"trained on {len(y)} channel-seconds ({int(y.sum())} seizure) in "
          f"{time.time() - started:.0f} s", flush=True)
    del x, y, weights

    dev = _read_split(args.examples, "dev", splits["dev"])
    standardise_examples(dev, bundle.config)
    tuning = results_of(classifier, dev, bundle.config)
    p3, _ = tune_p3(tuning, bundle.config.step_s, train_cfg,
                    {ex.path: ex.corpus for ex in dev})
    del dev, tuning

    card = card_rows(bundle)
    rows = []
    for name, examples in featurise(corpora, os.path.join(args.output, "examples"),
                                    bundle).items():
        standardise_examples(examples, bundle.config)
        results = results_of(classifier, examples, bundle.config)
        points = operating_points(results, p3, DEFAULT_THRESHOLDS, bundle.config.step_s)
        m = corpus_metrics(results, p3, bundle.config.step_s, scorers=("overlap", "taes"))
        row = {"corpus": name, "recordings": len(results),
               "seizures": sum(len(r.seizures) for r in results),
               "chosen": {"overlap_sensitivity_pct": m["overlap"]["sensitivity_pct"],
                          "overlap_fa_per_24h": m["overlap"]["fa_per_24h"],
                          "taes_sensitivity_pct": m["taes"]["sensitivity_pct"],
                          "background_flagged_pct": m["background_flagged_pct"]},
               "best_within_budgets": best_within(points, train_cfg.fa_budget_per_24h,
                                                  train_cfg.background_budget_pct),
               "operating_points": points}
        if name in card:
            ref = card[name]
            row["bundle"] = {
                "chosen": {"overlap_sensitivity_pct": ref["overlap"]["sensitivity_pct"],
                           "overlap_fa_per_24h": ref["overlap"]["fa_per_24h"]},
                "best_within_budgets": best_within(ref["operating_points"],
                                                   train_cfg.fa_budget_per_24h,
                                                   train_cfg.background_budget_pct)}
        rows.append(row)
        print(f"{name}: baseline OVERLAP {m['overlap']['sensitivity_pct']:.2f} % at "
              f"{m['overlap']['fa_per_24h']:.2f} FA/24h, background flagged "
              f"{m['background_flagged_pct']:.3f} %", flush=True)
    board = {"bundle_version": bundle.version, "baseline_config": dataclasses.asdict(cfg),
             "scikit_learn": sklearn_version, "p3": p3.to_dict(),
             "tuned_on": list(splits["dev"]),
             "fa_budget_per_24h": train_cfg.fa_budget_per_24h,
             "background_budget_pct": train_cfg.background_budget_pct,
             "command": recorded_command(sys.argv[1:]).replace(
                 "neurokube", "python benchmarks/baseline_gbm.py", 1),
             "rows": rows}
    with open(os.path.join(args.output, "baseline.json"), "w") as handle:
        json.dump(board, handle, indent=1, sort_keys=True)
    text = markdown(board)
    with open(os.path.join(args.output, "baseline.md"), "w") as handle:
        handle.write(text)
    print(text)
    print(f"baseline: {os.path.join(args.output, 'baseline.md')} "
          f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
