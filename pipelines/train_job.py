"""``neurokube train``: a Beam job writes training examples as TFRecord shards, then P1,
P2 and P3 are trained and tuned in a fresh deterministic process, and a bundle is written.

Example::

    neurokube train --corpus tcp_train/edf mixed_train/edf --dev tcp_dev/edf \
        --output models/mine
"""
import argparse
import json
import multiprocessing
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any, Sequence

import apache_beam as beam

from neurokube.core.paths import read_text
from neurokube.pipelines import options as opts
from neurokube.pipelines.console import quiet
from neurokube.transforms.featurize import ReadSources
from neurokube.transforms.stages import MAIN, flatten_dead_letters
from neurokube.transforms.training_examples import BuildExamples
from neurokube.transforms.write import DEAD_LETTERS_FILE, WriteDeadLetters

if TYPE_CHECKING:
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.sources import InputSet
    from neurokube.models.bundle import ModelBundle
    from neurokube.models.config import ModelConfig
    from neurokube.models.training import TrainConfig

SHARDS = 4
# A fresh process with these set before TensorFlow starts trains deterministically:
# one thread each for intra- and inter-op work, no oneDNN re-ordering, no GPU.
DETERMINISTIC_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                     "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "-1",
                     "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


def split_name(kind: str, index: int) -> str:
    """The example split of the ``index``-th corpus of ``kind`` (train or dev)."""
    return f"{kind}{index:02d}"


def _read_split(examples_dir, kind, corpora):
    """The examples of every corpus of ``kind``, each tagged with its corpus spec."""
    from neurokube.models.training import read_examples
    examples = []
    for index, corpus in enumerate(corpora):
        for example in read_examples(os.path.join(examples_dir,
                                                  f"{split_name(kind, index)}-*.tfrecord")):
            example.corpus = corpus
            examples.append(example)
    return examples


def _train_child(examples_dir, output_dir, report_path, spec, config, train_cfg, card_notes,
                 splits, started):
    """Read the examples, train, tune and save the bundle (runs in a spawned process)."""
    from neurokube.models.bundle import library_versions
    from neurokube.models.training import train_bundle
    train = _read_split(examples_dir, "train", splits["train"])
    dev = _read_split(examples_dir, "dev", splits["dev"] + splits["dev_report_only"])
    hours = {name: round(sum(e.duration_s for e in examples) / 3600, 3)
             for name, examples in (("train_hours", train), ("dev_hours", dev))}
    bundle, report = train_bundle(train, dev, spec, config, train_cfg,
                                  report_only=splits["dev_report_only"])
    skipped = [json.loads(line) for line in read_text(
        os.path.join(examples_dir, DEAD_LETTERS_FILE)).splitlines() if line.strip()]
    bundle.training = {
        "summary": "Trained with `neurokube train` (P1 and P2 fitted, P3 tuned on dev by "
                   "NEDC OVERLAP under a false-alarm budget).",
        "data": dict(train_recordings=len(train), dev_recordings=len(dev),
                     skipped_recordings=skipped, **hours),
        "splits": splits, "dev_metrics": report["dev_metrics"],
        "dev_metrics_by_corpus": report["dev_metrics_by_corpus"],
        "seeds": {"seed": train_cfg.seed}, "train_config": train_cfg.to_dict(),
        "library_versions": library_versions(),
        "report": {k: v for k, v in report.items() if not k.startswith("dev_metrics")},
        "train_wall_s": round(time.time() - started, 1)}
    bundle.training.update(card_notes)
    bundle.save(output_dir)
    with open(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, sort_keys=True)


def build_examples_pipeline(p: beam.Pipeline, splits: dict[str, "InputSet"],
                            examples_dir: str, spec: "FeatureSpec",
                            config: "ModelConfig") -> None:
    """Wire the example-writing job: ``splits`` maps a split name to an InputSet.

    Writes ``examples_dir/<split>-SSSSS-of-NNNNN.tfrecord`` and
    ``examples_dir/dead_letters.jsonl``.
    """
    dead = []
    for name, inputs in sorted(splits.items()):
        title = name.title()
        accepted = p | f"Sources{title}" >> ReadSources(inputs)
        made = accepted[MAIN] | f"Examples{title}" >> BuildExamples(spec, config)
        _ = made[MAIN] | f"Write{title}" >> beam.io.WriteToTFRecord(
            os.path.join(examples_dir, name), file_name_suffix=".tfrecord", num_shards=SHARDS)
        dead += [accepted, made]
    letters = flatten_dead_letters("AllDeadLetters", *dead)
    _ = letters | "WriteDeadLetters" >> WriteDeadLetters(examples_dir)


def _as_list(specs):
    return [specs] if isinstance(specs, str) else list(specs)


def _check_every_split_has_examples(splits: dict[str, "InputSet"], examples_dir: str) -> None:
    """A usage error naming why, when every training (or every dev) recording became a
    dead letter (no annotation beside it, an event outside it, ...)."""
    letters = {}
    for line in read_text(os.path.join(examples_dir, DEAD_LETTERS_FILE)).splitlines():
        if line.strip():
            letter = json.loads(line)
            letters[letter["path"]] = letter["reason"]
    for kind in ("train", "dev"):
        names = [s.name for split, inputs in splits.items() if split.startswith(kind)
                 for s in inputs.sources]
        if names and all(name in letters for name in names):
            raise opts.UsageError(
                f"no {kind} recording could be used: all {len(names)} became dead letters "
                f"({os.path.join(examples_dir, DEAD_LETTERS_FILE)}), e.g. {names[0]}: "
                f"{letters[names[0]]}")


def run_training(corpus: str | Sequence[str], dev: str | Sequence[str], output_dir: str,
                 examples_dir: str, beam_argv: Sequence[str] = (),
                 train_cfg: "TrainConfig | None" = None, spec: "FeatureSpec | None" = None,
                 config: "ModelConfig | None" = None,
                 card_notes: dict[str, Any] | None = None,
                 dev_report_only: str | Sequence[str] = ()
                 ) -> tuple["ModelBundle", dict[str, Any]]:
    """Write examples with Beam, train, tune and save a model bundle.

    ``corpus`` and ``dev`` are input specs (or lists of them); each spec is a corpus of
    its own for the window weights and P3's background budget. ``dev_report_only``:
    further dev corpora that are reported (and stop training early) but do not take part
    in P3's tuning. ``beam_argv``: Beam flags of the example-writing job. Returns
    (bundle, report).
    """
    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.sources import list_recordings
    from neurokube.models.config import ModelConfig
    from neurokube.models.training import TrainConfig
    spec, config = spec or FeatureSpec(), config or ModelConfig()
    train_cfg = train_cfg or TrainConfig()
    started = time.time()
    corpus, dev = _as_list(corpus), _as_list(dev)
    all_dev = dev + _as_list(dev_report_only)
    splits = {}
    for kind, specs in (("train", corpus), ("dev", all_dev)):
        for i, spec_ in enumerate(specs):
            try:
                splits[split_name(kind, i)] = list_recordings([spec_])
            except (OSError, ValueError) as exc:
                flag = "--corpus" if kind == "train" else "--dev"
                raise opts.UsageError(f"{flag} {spec_}: {exc}") from None
    os.makedirs(examples_dir, exist_ok=True)
    with beam.Pipeline(options=opts.pipeline_options(beam_argv)) as p:
        build_examples_pipeline(p, splits, examples_dir, spec, config)
    _check_every_split_has_examples(splits, examples_dir)
    report_path = os.path.join(examples_dir, "train_report.json")
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=_train_child, args=(
        examples_dir, output_dir, report_path, spec, config, train_cfg,
        dict(card_notes or {}), {"train": corpus, "dev": dev,
                                 "dev_report_only": _as_list(dev_report_only)}, started))
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
    return ModelBundle.load(output_dir), report


class TrainOptions(opts.JobOptions):
    """The flags of ``neurokube train``."""

    @classmethod
    def declare(cls, parser: argparse.ArgumentParser, required: bool) -> None:
        parser.add_argument("--corpus", nargs="+", required=required,
                            help="training recordings (folders, patterns, files or lists) with "
                                 ".csv/.csv_bi (or .tse/.lbl) annotations beside each EDF")
        parser.add_argument("--dev", nargs="+", required=required,
                            help="dev recordings, the same way")
        parser.add_argument("--dev_report_only", nargs="+", default=[],
                            help="further dev corpora that stop training early and are "
                                 "reported, but do not take part in tuning P3 (e.g. stitched "
                                 "corpora whose backgrounds are not scalp EEG)")
        parser.add_argument("--output", required=required, help="model bundle folder to write")
        parser.add_argument("--examples", default=None,
                            help="folder for the TFRecord examples (default: OUTPUT.examples)")
        parser.add_argument("--seed", type=int, default=None, help="training seed")
        parser.add_argument("--card-notes", default=None,
                            help="JSON file merged into the model card's training record (how "
                                 "the corpora were built, sources and citations, what the model "
                                 "was not trained on)")
        parser.add_argument("--feature_spec", default=None,
                            help="JSON file of front-end settings (FeatureSpec fields; the "
                                 "others take today's defaults)")
        parser.add_argument("--model_config", default=None,
                            help="JSON file of model settings (ModelConfig fields; the others "
                                 "take today's defaults), e.g. {\"causal\": true, "
                                 "\"recording_reference\": \"causal_median\"} for a detector "
                                 "that sees only the past")
        parser.add_argument("--train_config", default=None,
                            help="JSON file of training settings (TrainConfig fields: "
                                 "sampling, epochs, P3 grid and false-alarm budgets; the others "
                                 "take today's defaults)")
        parser.add_argument("--runner_config", default="direct", metavar="NAME_OR_PATH",
                            help="runner settings for the example-writing Beam job")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = TrainOptions.add_to_command(subparsers.add_parser(
        "train", help="train the detector on annotated EDFs (TUSZ layout) and write a bundle",
        description="Build TFRecord examples with Beam, train P1 and P2 deterministically, "
                    "tune P3 on the dev set; Beam flags may follow."))
    parser.set_defaults(run=run)
    return parser


def _json_fields(path, flag, cls, **overrides):
    """``cls`` from the JSON object at ``path``: today's defaults for every field it does
    not set (not the values that ``from_dict`` assumes for fields missing from an old
    bundle)."""
    from neurokube.models.config import fields_as_json
    fields = {}
    if path:
        try:
            fields = json.loads(read_text(path))
            if not isinstance(fields, dict):
                raise ValueError("expected a JSON object of field names and values")
        except (OSError, ValueError) as exc:
            raise opts.UsageError(f"{flag} {path}: {exc}") from None
    fields.update(overrides)
    try:
        return cls.from_dict({**fields_as_json(cls()), **fields})
    except (TypeError, ValueError) as exc:
        raise opts.UsageError(f"{flag} {path}: {exc}") from None


def recorded_command(argv: Sequence[str]) -> str:
    """The command line as a card records it: absolute paths cut to their last part
    (``.../edf``), since full paths can name patients or wards."""
    def short(value):
        return ".../" + os.path.basename(value.rstrip("/")) if value.startswith("/") else value
    tokens = []
    for token in argv:
        flag, eq, value = token.partition("=")
        tokens.append(f"{flag}={short(value)}" if eq and flag.startswith("--") else short(token))
    return "neurokube " + shlex.join(tokens)


def settings(job: "TrainOptions") -> tuple[Any, Any, Any]:
    """(TrainConfig, ModelConfig, FeatureSpec) of a ``train`` command's options."""
    from neurokube.models.config import ModelConfig
    from neurokube.models.training import TrainConfig
    seed = {} if job.seed is None else {"seed": job.seed}
    return (_json_fields(job.train_config, "--train_config", TrainConfig, **seed),
            _json_fields(job.model_config, "--model_config", ModelConfig),
            opts.load_feature_spec(job.feature_spec))


def run(args: argparse.Namespace, beam_argv: list[str]) -> int:
    job = TrainOptions.from_command(args)
    cfg, config, spec = settings(job)
    notes = None
    if job.card_notes:
        try:
            notes = json.loads(read_text(job.card_notes))
        except (OSError, ValueError) as exc:
            raise opts.UsageError(f"--card-notes {job.card_notes}: {exc}") from None
    notes = dict(notes or {})
    notes["command"] = recorded_command(getattr(args, "command_line", sys.argv[1:]))
    argv = opts.beam_argv(args, beam_argv)
    with quiet(args.log_level):
        bundle, report = run_training(
            job.corpus, job.dev, job.output,
            job.examples or job.output.rstrip("/") + ".examples", argv, train_cfg=cfg,
            spec=spec, config=config, card_notes=notes,
            dev_report_only=job.dev_report_only)
    overlap = report["dev_metrics"]["overlap"]
    print(f"model {bundle.version} written to {job.output}; dev OVERLAP sensitivity "
          f"{overlap['sensitivity_pct']:.2f} %, {overlap['fa_per_24h']:.2f} FA/24h")
    print(json.dumps(bundle.p3.to_dict()))
    return 0
