"""NeuroKube in a notebook: label one recording or an array, get MNE-ready events.

Example::

    from neurokube import api
    events = api.label("sub-01_task-rest_eeg.edf")          # or api.label(x, fs_hz=256,
    raw.set_annotations(events.to_mne())                     #     channel_labels=names)

The same front end, models and P3 as ``neurokube label`` (one process, no Beam).
"""
import dataclasses
import functools
import os
from typing import Any, Optional, Sequence, Union

import numpy as np

from neurokube.core.edf import open_recording
from neurokube.core.model_inputs import iter_model_inputs
from neurokube.core.montage import derivation_plan

# Recordings up to this long are processed whole, longer ones in chunks (as `label`).
_CHUNK_S, _WHOLE_MAX_S = 1200.0, 3600.0


@dataclasses.dataclass
class Events:
    """Seizure events of one recording, and the posteriors they came from.

    ``onset``, ``duration`` (s from the recording's start), ``description`` (``seizure``)
    and ``confidence`` have one entry per event: the fields ``mne.Annotations`` takes.
    """

    onset: np.ndarray
    duration: np.ndarray
    description: list
    confidence: np.ndarray
    fused: np.ndarray          # P(seizure) per 1 s step
    p1: np.ndarray             # (22, steps) per TCP channel
    model_version: str

    def __len__(self):
        return len(self.onset)

    def to_mne(self, orig_time: Any = None) -> Any:
        """These events as ``mne.Annotations`` (needs MNE)."""
        import mne
        return mne.Annotations(self.onset, self.duration, self.description,
                               orig_time=orig_time)


class _ArraySource:
    """An in-memory recording that reads like an open EDF (see :mod:`neurokube.core.edf`)."""

    def __init__(self, data_uv, fs_hz, labels, spec, name):
        self._data = np.asarray(data_uv, dtype=np.float64)
        if self._data.ndim != 2 or self._data.shape[0] != len(labels):
            raise ValueError(f"data of shape {self._data.shape} does not match "
                             f"{len(labels)} channel labels (expected channels × samples)")
        self.path, self.labels = name, tuple(labels)
        self.fs_hz = (float(fs_hz),) * len(labels)
        self.duration_s = self._data.shape[1] / float(fs_hz)
        self.plan = derivation_plan(self.labels, spec, name)
        self.samples_per_s = float(fs_hz) * len(self.plan.channels_used)
        self.record_samples_per_s = float(fs_hz) * len(labels)
        self.start = None

    def read(self, start_s: float = 0.0,
             stop_s: Optional[float] = None) -> dict[int, np.ndarray]:
        fs = self.fs_hz[0]
        first = max(0, int(round(start_s * fs)))
        last = self._data.shape[1] if stop_s is None else min(self._data.shape[1],
                                                               int(round(stop_s * fs)))
        return {i: self._data[i, first:last] for i in self.plan.channels_used}


@functools.lru_cache(maxsize=4)
def _bundle(model):
    from neurokube.models.bundle import REFERENCE_BUNDLE, ModelBundle
    return ModelBundle.load(model or REFERENCE_BUNDLE)


def label(recording: Union[str, os.PathLike[str], np.ndarray], fs_hz: Optional[float] = None,
          channel_labels: Optional[Sequence[str]] = None, model: Optional[str] = None) -> Events:
    """Label one recording: an EDF/EDF+ path, or an array (channels × samples, µV).

    Parameters
    ----------
    recording : str or os.PathLike or np.ndarray
    fs_hz : float
        Sampling rate of an array, Hz.
    channel_labels : sequence of str
        Labels of an array's channels, in any layout ``label`` reads (``Fp1``,
        ``EEG FP1-REF``, bipolar ``FP1-F7``...).
    model : str, optional
        A model bundle folder (default: the shipped reference model).
    """
    from neurokube.models.postprocess import assemble
    bundle = _bundle(model)
    detector = bundle.detector()
    spec, config = bundle.feature_spec, bundle.config

    def posteriors(src):
        return [detector.posteriors(x) for x in
                iter_model_inputs(src, spec, config, _CHUNK_S, _WHOLE_MAX_S)]

    if isinstance(recording, np.ndarray):
        if fs_hz is None or channel_labels is None:
            raise ValueError("an array needs fs_hz and channel_labels")
        chunks = posteriors(_ArraySource(recording, fs_hz, channel_labels, spec, "array"))
    else:
        with open_recording(str(recording), spec) as src:
            chunks = posteriors(src)
    p1, _, fused, events = assemble(chunks, bundle.p3, config.step_s)
    return Events(onset=np.array([s for s, _, _ in events]),
                  duration=np.array([e - s for s, e, _ in events]),
                  description=["seizure"] * len(events),
                  confidence=np.array([c for _, _, c in events]), fused=fused, p1=p1,
                  model_version=bundle.version)
