"""Deterministic training of P1 and P2 from recording examples, then P3's tuning
(:mod:`neurokube.models.p3_tuning`) into a model bundle.

Examples come from the TFRecord shards written by ``neurokube train``'s Beam job and are
read back with tfx-bsl's TFXIO, sorted by path, so the data order never depends on how
the shards were written. With the same examples, seed and library versions, training
gives byte-identical weights: every RNG is seeded, TensorFlow runs deterministic ops on
one thread, and all arrays are float32.

Example::

    train = read_examples("work/examples/train-*.tfrecord")
    bundle, report = train_bundle(train, dev, FeatureSpec(), ModelConfig(), TrainConfig())
"""
import dataclasses
import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from neurokube.core.model_inputs import (
    feature_moments, p1_inputs, standardise, step_summaries, window_index)
from neurokube.core.feature_spec import FeatureSpec
from neurokube.models.config import ModelConfig, P3Params, fields_as_json, from_fields

if TYPE_CHECKING:
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.detector import Detector
    from neurokube.models.evaluation import RecordingResult

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class RecordingExample:
    """One training recording (see ``transforms/training_examples.py``).

    ``steps`` hold the features with the energy referenced; :func:`standardise_examples`
    standardises them in place with the model's statistics and fills ``summaries``.
    """

    path: str
    steps: np.ndarray           # float32 (C, S, V)
    mask: np.ndarray            # bool (C,)
    term_labels: np.ndarray     # int (S,)
    channel_labels: np.ndarray  # int (C, S)
    seizures: list              # [(start_s, stop_s)] term seizure events
    duration_s: float
    summaries: np.ndarray = None  # float32 (C, S, 2F), after standardisation
    corpus: str = ""            # the corpus (input spec) it came from


def _frames(ex, config):
    """The example's steps viewed as (C, S * frames_per_step, F) frames (no copy)."""
    c, s, _ = ex.steps.shape
    return ex.steps.reshape(c, s * config.frames_per_step, config.n_features)


def input_statistics(examples: Iterable[RecordingExample], config: ModelConfig) -> ModelConfig:
    """``config`` with the feature mean and scale of the training examples recorded."""
    mean, scale = feature_moments((_frames(ex, config), ex.mask) for ex in examples)
    return config.replace(feature_mean=mean, feature_scale=scale)


def p1_input_statistics(examples: Iterable[RecordingExample], config: ModelConfig
                        ) -> ModelConfig:
    """``config`` with the mean and scale of P1's step inputs over the (standardised)
    training examples recorded, for a P1 that reads ``moments``; else unchanged."""
    if config.p1_step_input != "moments":
        return config
    plain = config.replace(p1_input_mean=(), p1_input_scale=())
    mean, scale = feature_moments((p1_inputs(ex.steps, plain), ex.mask) for ex in examples)
    return config.replace(p1_input_mean=mean, p1_input_scale=scale)


def standardise_examples(examples: Sequence[RecordingExample], config: ModelConfig
                         ) -> Sequence[RecordingExample]:
    """Standardise and clip every example's steps in place; compute their summaries."""
    for ex in examples:
        frames = _frames(ex, config)
        standardise(frames, ex.mask, config)
        ex.summaries = step_summaries(frames, config)
    return examples


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every training CHOICE (recorded in the model card)."""

    seed: int = 20261127
    batch_size: int = 256
    learning_rate: float = 1e-3
    p1_epochs: int = 40
    p2_epochs: int = 40
    p1_background_per_seizure: float = 6.0
    p2_background_per_seizure: float = 4.0
    max_p1_windows: int = 400_000
    max_p2_windows: int = 80_000
    patience: int = 4
    p2_folds: int = 2
    fa_budget_per_24h: float = 2.0
    background_budget_pct: float = 0.5
    # The background budget holds for every dev corpus on its own, so a short corpus of
    # real recordings is not outweighed by hours of stitched ones.
    background_budget_each_corpus: bool = True
    # Every training corpus weighs the same in each class (seizure, background), so a
    # small corpus of real recordings is not drowned by hours of stitched ones; no window
    # weighs more than ``max_corpus_weight`` times the average.
    balance_corpora: bool = True
    max_corpus_weight: float = 10.0
    p3_thresholds: tuple = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99)
    p3_p2_weights: tuple = (0.0, 0.25, 0.5, 0.75, 1.0)
    p3_merge_gaps_s: tuple = (1.0, 2.0, 5.0)
    p3_min_durations_s: tuple = (2.0, 3.0, 5.0, 8.0)
    p3_min_channels: tuple = (1, 2, 3)
    p3_top_k: tuple = (3,)

    def to_dict(self) -> dict[str, Any]:
        return fields_as_json(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return from_fields(cls, {k: tuple(v) if isinstance(v, list) else v
                                 for k, v in data.items()})


def read_examples(file_pattern: str) -> list[RecordingExample]:
    """Recording examples from TFRecord shards (tfx-bsl TFXIO), sorted by path."""
    from tfx_bsl.public import tfxio
    source = tfxio.TFExampleRecord(file_pattern=file_pattern)
    examples = []
    for batch in source.RecordBatches(tfxio.RecordBatchesOptions(
            batch_size=16, shuffle=False, num_epochs=1)):
        columns = {name: batch.column(i).to_pylist() for i, name in
                   enumerate(batch.schema.names)}
        for row in range(batch.num_rows):
            examples.append(_decode_row({k: v[row] for k, v in columns.items()}))
    examples.sort(key=lambda e: e.path)
    return examples


def _decode_row(row):
    shape = tuple(row["shape"])
    n_channels, n_steps = shape[0], shape[1]
    seizures = np.asarray(row["seizures_s"] or [], np.float64).reshape(-1, 2)
    return RecordingExample(
        path=row["path"][0].decode(),
        steps=np.frombuffer(row["steps"][0], np.float32).reshape(shape).copy(),
        mask=np.asarray(row["mask"], bool),
        term_labels=np.asarray(row["term_labels"] or [], np.int64),
        channel_labels=np.frombuffer(row["channel_labels"][0], np.int8).reshape(
            n_channels, n_steps).astype(np.int64),
        seizures=[tuple(s) for s in seizures], duration_s=float(row["duration_s"][0]))


def configure_determinism(seed: int) -> None:
    """Seed every RNG and make TensorFlow deterministic and single-threaded."""
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process: threads are fixed
        pass


def _sample(positive, negative, ratio, cap, rng):
    """All positives (up to cap/(1+ratio)) and ``ratio`` times as many negatives."""
    n_pos = min(len(positive), int(cap / (1.0 + ratio)))
    positive = positive[np.sort(rng.permutation(len(positive))[:n_pos])] if n_pos else positive[:0]
    n_neg = min(len(negative), max(int(round(ratio * max(n_pos, 1))), 1))
    negative = negative[np.sort(rng.permutation(len(negative))[:n_neg])]
    return positive, negative


def p1_training_set(examples: Sequence[RecordingExample], config: ModelConfig,
                    train_cfg: TrainConfig, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P1 windows (N, W, V), labels (N,) and example indices (N,) from every present
    channel of every example."""
    index = []  # (example, channel, step, label)
    for e_id, ex in enumerate(examples):
        for c in np.flatnonzero(ex.mask):
            labels = ex.channel_labels[c]
            index.append(np.column_stack([np.full(len(labels), e_id), np.full(len(labels), c),
                                          np.arange(len(labels)), labels]))
    index = np.concatenate(index)
    pos, neg = _sample(index[index[:, 3] == 1], index[index[:, 3] == 0],
                       train_cfg.p1_background_per_seizure, train_cfg.max_p1_windows, rng)
    chosen = np.concatenate([pos, neg])
    windows = np.empty((len(chosen), config.window_steps, config.p1_input_values),
                       np.float32)
    for e_id in np.unique(chosen[:, 0]):
        rows = np.flatnonzero(chosen[:, 0] == e_id)
        ex = examples[e_id]
        idx = window_index(ex.steps.shape[1], config)[chosen[rows, 2]]
        windows[rows] = p1_inputs(ex.steps, config)[chosen[rows, 1][:, None], idx]
    return windows, chosen[:, 3].astype(np.int64), chosen[:, 0]


def p2_training_set(examples: Sequence[RecordingExample], p1_posteriors: Iterable[np.ndarray],
                    detector: "Detector", train_cfg: TrainConfig, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P2 windows (N, W, C, M), term labels (N,) and example indices (N,), with
    ``p1_posteriors`` (one (C, S) array per example) as P2's hypothesis features."""
    maps_of, index = [], []
    for ex, p1 in zip(examples, p1_posteriors):
        maps_of.append(detector.p2_inputs(ex.summaries, p1, ex.mask))
        n = len(ex.term_labels)
        index.append(np.column_stack([np.full(n, len(maps_of) - 1), np.arange(n),
                                      ex.term_labels[:n]]))
    index = np.concatenate(index)
    pos, neg = _sample(index[index[:, 2] == 1], index[index[:, 2] == 0],
                       train_cfg.p2_background_per_seizure, train_cfg.max_p2_windows, rng)
    chosen = np.concatenate([pos, neg])
    config = detector.config
    sample = maps_of[0]
    windows = np.empty((len(chosen), config.window_steps) + sample.shape[1:], np.float32)
    for m_id in np.unique(chosen[:, 0]):
        rows = np.flatnonzero(chosen[:, 0] == m_id)
        maps = maps_of[m_id]
        windows[rows] = maps[window_index(maps.shape[0], config)[chosen[rows, 1]]]
    return windows, chosen[:, 2].astype(np.int64), chosen[:, 0]


def fold_of(path: str, n_folds: int) -> int:
    """Cross-fitting fold of an example, from its name: the variants of one mixed
    background (``..._mixNN``) share a fold."""
    stem = re.sub(r"_mix\d+$", "", path.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0])
    return int(hashlib.sha256(stem.encode()).hexdigest(), 16) % n_folds


def out_of_fold_p1(train: Sequence[RecordingExample], dev_windows: Sequence[np.ndarray],
                   config: ModelConfig, train_cfg: TrainConfig, rng: np.random.Generator,
                   full_detector: "Detector"
                   ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """P1 posteriors of every training example from a P1 that never saw its fold.

    P2 learns from P1's hypothesis features; taken from a P1 trained on the same
    recordings they are over-confident, and P2 would learn to trust them more than they
    deserve on new recordings. A fold whose complement holds no recording (tiny corpora)
    takes the posteriors of ``full_detector``. Returns (posteriors, histories).
    """
    from neurokube.models.detector import Detector
    from neurokube.models.networks import build_p1, build_p2
    folds = [fold_of(ex.path, train_cfg.p2_folds) for ex in train]
    posteriors, histories = [None] * len(train), []
    for k in range(train_cfg.p2_folds):
        fit_on = [ex for ex, f in zip(train, folds) if f != k]
        if fit_on:
            x, y, rows = p1_training_set(fit_on, config, train_cfg, rng)
            model = build_p1(config)
            histories.append(fit(model, x, y, train_cfg, train_cfg.p1_epochs, dev_windows,
                                 [fit_on[i].corpus for i in rows]))
            del x
            detector = Detector.from_keras(model, build_p2(config), config, P3Params())
        else:
            detector = full_detector
        for i, ex in enumerate(train):
            if folds[i] == k:
                posteriors[i] = detector.p1_posteriors(ex.steps, ex.mask)
    return posteriors, histories


def window_weights(labels: np.ndarray, corpora: Sequence[str] | None,
                   train_cfg: TrainConfig) -> np.ndarray:
    """Per-window training weights: each class weighs half of the total and, when
    ``balance_corpora``, every corpus the same within a class (capped at
    ``max_corpus_weight`` times the mean weight), normalised to mean 1."""
    labels = np.asarray(labels)
    corpora = np.asarray(corpora if corpora is not None and train_cfg.balance_corpora
                         else np.zeros(len(labels), int))
    weights = np.zeros(len(labels), np.float64)
    for label in np.unique(labels):
        in_class = labels == label
        names, counts = np.unique(corpora[in_class], return_counts=True)
        share = dict(zip(names, 1.0 / (len(names) * counts)))
        weights[in_class] = [share[c] for c in corpora[in_class]]
        weights[in_class] /= weights[in_class].sum() * 2.0
    weights *= len(labels)
    for _ in range(20):  # cap, then renormalise, until stable
        capped = np.minimum(weights, train_cfg.max_corpus_weight)
        capped *= len(labels) / capped.sum()
        if np.allclose(capped, weights):
            break
        weights = capped
    return weights.astype(np.float32)


def fit(model: Any, windows: np.ndarray, labels: np.ndarray, train_cfg: TrainConfig,
        epochs: int, validation: Sequence[np.ndarray],
        corpora: Sequence[str] | None = None) -> dict[str, Any]:
    """Adam with class- and corpus-balanced window weights (:func:`window_weights`),
    stopped early on the validation loss (``validation`` = (windows, labels, ...); the
    best epoch's weights are kept); deterministic given the seed. Returns the history."""
    import keras
    model.compile(optimizer=keras.optimizers.Adam(train_cfg.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = window_weights(labels, corpora, train_cfg)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=train_cfg.patience,
                                         restore_best_weights=True)
    history = model.fit(windows, labels, sample_weight=weights,
                        batch_size=train_cfg.batch_size, epochs=epochs, shuffle=True,
                        verbose=0, validation_data=tuple(validation[:2]), callbacks=[stop])
    out = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    out["best_epoch"] = int(np.argmin(out["val_loss"])) + 1
    return out


def recording_results(examples: Iterable[RecordingExample], detector: "Detector"
                      ) -> list["RecordingResult"]:
    """:class:`~neurokube.models.evaluation.RecordingResult` of every example."""
    from neurokube.models.evaluation import RecordingResult
    out = []
    for ex in examples:
        p1 = detector.p1_posteriors(ex.steps, ex.mask)
        p2 = detector.p2_posteriors(detector.p2_inputs(ex.summaries, p1, ex.mask))
        out.append(RecordingResult(name=ex.path, duration_s=ex.duration_s,
                                   seizures=list(ex.seizures), p1=p1, p2=p2, mask=ex.mask))
    return out


def train_bundle(train: Sequence[RecordingExample], dev: Sequence[RecordingExample],
                 feature_spec: FeatureSpec, config: ModelConfig, train_cfg: TrainConfig,
                 report_only: Sequence[str] = ()
                 ) -> tuple["ModelBundle", dict[str, Any]]:
    """Train P1 and P2 and tune P3; returns (ModelBundle, report dict).

    The input standardisation is measured on ``train`` and recorded in the bundle's
    config; ``train`` and ``dev`` are standardised in place.

    Parameters
    ----------
    train, dev : list of RecordingExample
        Training and dev recordings (sorted by path).
    report_only : sequence of str
        Dev corpora (``RecordingExample.corpus``) that stop P1 and P2 early and are
        reported, but do not take part in P3's tuning (e.g. stitched corpora whose
        backgrounds are not scalp EEG, when the operating point is to suit real EEG).
    """
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.detector import Detector
    from neurokube.models.networks import build_p1, build_p2

    if not train or not dev:
        raise ValueError("training needs at least one training and one dev recording")
    configure_determinism(train_cfg.seed)
    rng = np.random.default_rng(train_cfg.seed)
    config = input_statistics(train, config)
    standardise_examples(train, config)
    standardise_examples(dev, config)
    config = p1_input_statistics(train, config)
    x1, y1, rows1 = p1_training_set(train, config, train_cfg, rng)
    v1 = p1_training_set(dev, config, train_cfg, rng)
    _LOG.info("P1: %d windows (%d seizure)", len(y1), int(y1.sum()))
    p1 = build_p1(config)
    p1_history = fit(p1, x1, y1, train_cfg, train_cfg.p1_epochs, v1,
                     [train[i].corpus for i in rows1])
    del x1
    p2 = build_p2(config)
    detector = Detector.from_keras(p1, p2, config, P3Params())
    train_p1, fold_histories = out_of_fold_p1(train, v1, config, train_cfg, rng, detector)
    del v1
    x2, y2, rows2 = p2_training_set(train, train_p1, detector, train_cfg, rng)
    dev_p1 = [detector.p1_posteriors(ex.steps, ex.mask) for ex in dev]
    v2 = p2_training_set(dev, dev_p1, detector, train_cfg, rng)
    _LOG.info("P2: %d windows (%d seizure)", len(y2), int(y2.sum()))
    p2_history = fit(p2, x2, y2, train_cfg, train_cfg.p2_epochs, v2,
                     [train[i].corpus for i in rows2])
    del x2, v2
    from neurokube.models.p3_tuning import dev_metrics, tune_p3  # scoring: only now
    dev_results = recording_results(dev, detector)
    corpus_of = {ex.path: ex.corpus for ex in dev}
    tuning = [r for r in dev_results if corpus_of[r.name] not in set(report_only)]
    if not tuning:
        raise ValueError("every dev corpus is report-only: nothing to tune P3 on")
    p3, table = tune_p3(tuning, config.step_s, train_cfg, corpus_of)
    dev_scores = dev_metrics(tuning, p3, config.step_s)
    by_corpus = {}
    for corpus in sorted(set(corpus_of.values())):
        group = [r for r in dev_results if corpus_of[r.name] == corpus]
        by_corpus[corpus] = dev_metrics(group, p3, config.step_s)
    bundle = ModelBundle(p1=p1, p2=p2, feature_spec=feature_spec, config=config, p3=p3)
    report = {"p1_windows": int(len(y1)), "p1_seizure_windows": int(y1.sum()),
              "p2_windows": int(len(y2)), "p2_seizure_windows": int(y2.sum()),
              "p1_history": p1_history, "p2_history": p2_history,
              "p1_fold_histories": fold_histories,
              "p3_grid_points": len(table), "dev_metrics": dev_scores,
              "dev_metrics_by_corpus": by_corpus}
    return bundle, report
