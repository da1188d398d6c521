"""``neurokube train``: train P1/P2 and tune P3 on an annotated corpus; write a bundle.

Example::

    neurokube train --corpus tcp_train/edf --dev tcp_dev/edf --output models/mine \
        --bonn ../shared/data/bonn --bonn-segments 1-60
"""
import json

from neurokube.pipelines import runner_configs


def _segments(text):
    numbers = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        numbers += list(range(int(lo), int(hi or lo) + 1))
    return numbers


def _read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "train", help="train the detector on annotated EDFs (TUSZ layout) and write a bundle",
        description="Build TFRecord examples with Beam, train P1 and P2 deterministically, "
                    "tune P3 on the dev set; Beam flags may follow.")
    parser.add_argument("--corpus", required=True,
                        help="training recordings (folder, pattern or list) with .csv/.csv_bi "
                             "(or .tse/.lbl) annotations beside each EDF")
    parser.add_argument("--dev", required=True, help="dev recordings, the same way")
    parser.add_argument("--output", required=True, help="model bundle folder to write")
    parser.add_argument("--examples", default=None,
                        help="folder for the TFRecord examples (default: OUTPUT.examples)")
    parser.add_argument("--bonn", default=None,
                        help="Bonn EEG folder (Z/O/N/F/S): single-channel segments for P1")
    parser.add_argument("--bonn-segments", default="1-60", help="Bonn segment numbers")
    parser.add_argument("--seed", type=int, default=None, help="training seed")
    parser.add_argument("--card-notes", default=None,
                        help="JSON file merged into the model card's training record (e.g. "
                             "how the corpora were built, what the model was not trained on)")
    runner_configs.add_runner_config_argument(parser, default="direct")
    parser.set_defaults(run=run)
    return parser


def run(args, beam_argv):
    from neurokube.models.training import TrainConfig
    from neurokube.pipelines.train import run_training
    cfg = TrainConfig() if args.seed is None else TrainConfig(seed=args.seed)
    bundle, report = run_training(
        args.corpus, args.dev, args.output, args.examples or args.output.rstrip("/") + ".examples",
        runner_configs.resolve_beam_args(args.runner_config, beam_argv), bonn_dir=args.bonn,
        bonn_segments=_segments(args.bonn_segments) if args.bonn else (), train_cfg=cfg,
        card_notes=_read_json(args.card_notes) if args.card_notes else None)
    overlap = report["dev_metrics"]["overlap"]
    print(f"model {bundle.version} written to {args.output}; dev OVERLAP sensitivity "
          f"{overlap['sensitivity_pct']:.2f} %, {overlap['fa_per_24h']:.2f} FA/24h")
    print(json.dumps(bundle.p3.to_dict()))
    return 0
