"""Pair CHB-MIT chb03's 10 s clips into 20 s recordings: background, then seizure.

``../shared/data/chbmit_chb03`` holds, per seizure, the 10 s before its onset and 10 s
inside it, as separate files. A detector that takes each channel relative to its own
recording (NeuroKube's reference model does) cannot tell an all-seizure clip from
background; a recording that holds both can be judged. Each output joins the preictal
clip and the ictal clip of one seizure (their 23 bipolar derivations, 256 Hz, as
stored) and marks [10, 20) s as seizure. The two clips are not contiguous in the
original recording: the join at 10 s is a splice, and the figures say so.

Usage::

    python training/chbmit_pairs.py --chbmit ../shared/data/chbmit_chb03 \
        --seizures 01,02,03,04 --output work/chb03_pairs_train
"""
import argparse
import os

import numpy as np
import pyedflib

from neurokube.core.edf import write_edf
from neurokube.core.formats import Annotation, Event, write_annotation


def read_clip(path):
    with pyedflib.EdfReader(path) as reader:
        labels = reader.getSignalLabels()
        fs = reader.getSampleFrequencies()
        data = np.stack([reader.readSignal(i) for i in range(len(labels))])
    if len(set(fs)) != 1:
        raise ValueError(f"{path}: mixed sampling rates")
    return labels, float(fs[0]), data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chbmit", required=True)
    parser.add_argument("--seizures", required=True, help="record numbers, e.g. 01,02,34")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    for number in args.seizures.split(","):
        stem = os.path.join(args.chbmit, f"chbmit_chb03_{number.strip()}")
        labels, fs, before = read_clip(f"{stem}_preictal.edf")
        labels_ictal, fs_ictal, ictal = read_clip(f"{stem}_ictal.edf")
        if labels != labels_ictal or fs != fs_ictal:
            raise ValueError(f"{stem}: the clips differ in channels or rate")
        bname = f"chbmit_chb03_{number.strip()}_pair"
        target = os.path.join(args.output, bname + ".edf")
        os.makedirs(args.output, exist_ok=True)
        duration = write_edf(target, np.concatenate([before, ictal], axis=1), labels, int(fs))
        onset = before.shape[1] / fs
        write_annotation(Annotation(bname, duration, [Event(onset, duration, "seiz")]),
                         target[:-4] + ".csv_bi", "csv_bi")
        print(target)


if __name__ == "__main__":
    main()
