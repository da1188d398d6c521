"""Run a published, pretrained peer detector on a corpus and write scorer-ready .csv_bi.

The peer is the Mayo Clinic BNEL seizure model shipped with its ONNX weights in the PyPI
package ``brainmaze-eeg-models`` 0.1.0 (Sladky et al., Brain Communications 4(3), 2022;
BSD-3-Clause): a CNN + BiLSTM on 1 s spectrograms of one channel, trained on
intracranial EEG. Its dependencies clash with NeuroKube's pins, so it runs in its own
virtual environment and this script imports nothing from NeuroKube:

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install brainmaze-eeg-models==0.1.0 pyedflib
    /tmp/peer/bin/python benchmarks/peer_brainmaze.py --input CORPUS/edf --output PEER_DIR
    neurokube score --ref CORPUS/edf --hyp PEER_DIR

Combination over channels (our choice; the model is single-channel): the mean of the
per-channel seizure probabilities of the referential EEG electrodes (A1/A2 excluded),
thresholded at ``--threshold``; runs of 0.5 s steps above it become events.
"""
import argparse
import pathlib

import numpy as np
import pyedflib
from scipy.signal import resample_poly

EXCLUDED = ("A1", "A2", "EKG", "ECG", "ROC", "LOC", "PHOTIC")


def channel_probabilities(path, model, predict):
    with pyedflib.EdfReader(str(path)) as reader:
        labels, rates = reader.getSignalLabels(), reader.getSampleFrequencies()
        idx = [i for i, label in enumerate(labels)
               if label.upper().startswith("EEG ") and not any(k in label.upper() for k in EXCLUDED)]
        fs = int(rates[idx[0]])
        signals = np.stack([reader.readSignal(i) for i in idx])
        duration = reader.getFileDuration()
    if fs < 200 or fs % 2:  # the model needs an even, whole rate of at least 200 Hz
        signals, fs = resample_poly(signals, 256, fs, axis=1), 256
    probs = np.stack([predict(x, fs, model=model)[1] for x in signals])
    return probs, float(duration)


def events(p, threshold, step_s=0.5):
    on = np.nan_to_num(p) >= threshold
    padded = np.concatenate([[False], on, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1]).reshape(-1, 2)
    return [(max(0.0, a * step_s - step_s / 2), b * step_s - step_s / 2,
             float(np.nanmean(p[a:b]))) for a, b in edges]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--model", default="modelA", choices=["modelA", "modelB"])
    args = parser.parse_args()
    from brainmaze_eeg_models.seizure import (load_trained_model,
                                              predict_channel_seizure_probability)
    model = load_trained_model(args.model, threads=1)
    root = pathlib.Path(args.input)
    for path in sorted(root.rglob("*.edf")):
        probs, duration = channel_probabilities(path, model, predict_channel_seizure_probability)
        mean = np.nanmean(probs, axis=0)
        rows = [f"TERM,{a:.4f},{min(b, duration):.4f},seiz,{c:.4f}"
                for a, b, c in events(mean, args.threshold) if min(b, duration) > a]
        out = pathlib.Path(args.output) / path.relative_to(root).with_suffix(".csv_bi")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(["# version = csv_v1.0.0", f"# bname = {path.stem}",
                                  f"# duration = {duration:.4f} secs",
                                  "channel,start_time,stop_time,label,confidence", *rows]) + "\n")
        print(f"{path.name}: {len(rows)} events")


if __name__ == "__main__":
    main()
