"""NeuroKube: seizure labelling of clinical EEG at corpus scale on Apache Beam."""

__version__ = "0.1.0"
