"""The train job: a Beam job writes training examples as TFRecord shards, then P1, P2 and
P3 are trained and tuned in this process, and a model bundle is written.

Example::

    run_training("tcp_train/edf", "tcp_dev/edf", "models/mine", examples_dir="work/ex")
"""
import json
import logging
import multiprocessing
import os
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from neurokube.models.bundle import library_versions
from neurokube.models.config import ModelConfig
from neurokube.models.training import TrainConfig, read_examples, train_bundle
from neurokube.transforms.dead_letters import DEAD_LETTER, MAIN, DeadLetter
from neurokube.transforms.sources import list_recordings
from neurokube.transforms.training_examples import (
    BuildBonnExamples, BuildExamples, bonn_paths)
from neurokube.transforms.writers import WriteDeadLetters

_LOG = logging.getLogger(__name__)
SHARDS = 4


# A fresh process with these set before TensorFlow starts trains deterministically:
# one thread each for intra- and inter-op work, no oneDNN re-ordering, no GPU.
DETERMINISTIC_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                     "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1",
                     "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _train_child(examples_dir, output_dir, report_path, with_bonn, spec, config, train_cfg,
                 card_notes, splits, started):
    """Read the examples, train, tune and save the bundle (runs in a spawned process)."""
    train = read_examples(os.path.join(examples_dir, "train-*.tfrecord"))
    dev_examples = read_examples(os.path.join(examples_dir, "dev-*.tfrecord"))
    bonn_examples = (read_examples(os.path.join(examples_dir, "bonn-*.tfrecord"))
                     if with_bonn else [])
    bundle, report = train_bundle(train, dev_examples, spec, config, train_cfg, bonn_examples)
    with open(os.path.join(examples_dir, "dead_letters.jsonl")) as handle:
        skipped = [json.loads(line) for line in handle if line.strip()]
    bundle.training = {
        "summary": "Trained with `neurokube train` (P1 and P2 fitted, P3 tuned on dev by "
                   "NEDC OVERLAP).",
        "data": dict(train_recordings=len(train), dev_recordings=len(dev_examples),
                     bonn_segments=len(bonn_examples),
                     train_hours=round(sum(e.duration_s for e in train) / 3600, 3),
                     dev_hours=round(sum(e.duration_s for e in dev_examples) / 3600, 3),
                     skipped_recordings=skipped),
        "splits": splits, "dev_metrics": report["dev_metrics"],
        "seeds": {"seed": train_cfg.seed}, "train_config": train_cfg.to_dict(),
        "library_versions": library_versions(),
        "report": {k: v for k, v in report.items() if k != "dev_metrics"},
        "train_wall_s": round(time.time() - started, 1)}
    bundle.training.update(card_notes)
    bundle.save(output_dir)
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, sort_keys=True)


def build_examples_pipeline(p, splits, examples_dir, spec, config, bonn=None):
    """Wire the example-writing job: ``splits`` maps a split name to an InputSet.

    Writes ``examples_dir/<split>-SSSSS-of-NNNNN.tfrecord`` and
    ``examples_dir/dead_letters.jsonl``; ``bonn`` is an optional list of Bonn segment
    paths written as the ``bonn`` split.
    """
    dead = []
    sources = {name: (inputs.paths, BuildExamples(spec, config))
               for name, inputs in splits.items()}
    if bonn:
        sources["bonn"] = (bonn, BuildBonnExamples(spec, config))
    for name, (paths, transform) in sorted(sources.items()):
        made = (p
                | f"List{name.title()}" >> beam.Create(list(paths)).with_output_types(str)
                | f"Distribute{name.title()}" >> beam.Reshuffle()
                | f"Examples{name.title()}" >> transform)
        _ = made[MAIN] | f"Write{name.title()}" >> beam.io.WriteToTFRecord(
            os.path.join(examples_dir, name), file_name_suffix=".tfrecord", num_shards=SHARDS)
        dead.append(made[DEAD_LETTER])
    letters = tuple(dead) | "AllDeadLetters" >> beam.Flatten().with_output_types(DeadLetter)
    _ = letters | "WriteDeadLetters" >> WriteDeadLetters(examples_dir)


def run_training(corpus, dev, output_dir, examples_dir, beam_argv=(), bonn_dir=None,
                 bonn_segments=(), train_cfg=None, spec=None, config=None, card_notes=None):
    """Write examples with Beam, train, tune and save a model bundle; returns the report."""
    from neurokube.transforms.feature_spec import FeatureSpec
    spec, config = spec or FeatureSpec(), config or ModelConfig()
    train_cfg = train_cfg or TrainConfig()
    started = time.time()
    splits = {"train": list_recordings(corpus), "dev": list_recordings(dev)}
    bonn = bonn_paths(bonn_dir, bonn_segments) if bonn_dir else None
    os.makedirs(examples_dir, exist_ok=True)
    with beam.Pipeline(options=PipelineOptions(list(beam_argv))) as p:
        build_examples_pipeline(p, splits, examples_dir, spec, config, bonn)
    report_path = os.path.join(examples_dir, "train_report.json")
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_train_child, args=(
        examples_dir, output_dir, report_path, bool(bonn), spec, config, train_cfg,
        dict(card_notes or {}), {"train": corpus, "dev": dev,
                                 "bonn_segments": list(bonn_segments)}, started))
    env_before = {k: os.environ.get(k) for k in DETERMINISTIC_ENV}
    os.environ.update(DETERMINISTIC_ENV)  # inherited by the spawned child
    try:
        child.start()
        child.join()
    finally:
        for key, value in env_before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if child.exitcode != 0:
        raise RuntimeError(f"training process failed with exit code {child.exitcode}")
    from neurokube.models.bundle import ModelBundle
    with open(report_path, encoding="utf-8") as handle:
        report = json.load(handle)
    bundle = ModelBundle.load(output_dir)
    return bundle, report
