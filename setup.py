"""NeuroKube: seizure labelling of clinical EEG at corpus scale on Apache Beam.

The source folders ``pipelines/``, ``transforms/``, ``models/`` and ``runner_configs/`` are
installed as ``neurokube.pipelines``, ``neurokube.transforms``, ``neurokube.models`` and
``neurokube.runner_configs`` beside the Beam-free core ``neurokube.core``, so that the
project imports under one name on every Beam worker. The build backend is declared in
``pyproject.toml``.
"""
from setuptools import setup

# Exact pins: the set below installs together on Python 3.11 and is the one the tests,
# the benchmarks and the shipped model were run with (tfx-bsl 1.21 needs TF 2.21 and
# protobuf 6, which rules out older Beam releases). Beam Java 2.77's Flink job server is
# not on the Maven Central mirror this project builds with; .ci/fetch_flink_job_server.sh
# explains the fallback.
INSTALL_REQUIRES = [
    "apache-beam[gcp]==2.77.0",
    "tensorflow==2.21.0",
    "keras==3.15.1",
    "tfx-bsl==1.21.0",
    "numpy==2.4.6",
    "scipy==1.17.1",
    "pyedflib==0.1.42",
    "google-cloud-storage==3.17.1",
    "timescoring==0.0.7",
    "pyyaml==6.0.4",
    "matplotlib==3.11.2",
]
# benchmarks/baseline_gbm.py: the gradient-boosting baseline a detector must beat.
BENCH_REQUIRES = ["scikit-learn==1.9.1"]
TEST_REQUIRES = [
    "pytest==9.2.0",
    "mne==1.11.0",
    "epilepsy2bids==0.0.7",
    "gcp-storage-emulator==2026.7.19",
] + BENCH_REQUIRES

setup(
    name="neurokube",
    version="0.1.0",
    description="Seizure labelling of clinical EEG (EDF/EDF+) at corpus scale on Apache Beam",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11,<3.12",
    packages=[
        "neurokube",
        "neurokube.core",
        "neurokube.core.formats",
        "neurokube.core.scoring",
        "neurokube.models",
        "neurokube.models.reference",
        "neurokube.models.reference_causal",
        "neurokube.transforms",
        "neurokube.pipelines",
        "neurokube.runner_configs",
    ],
    package_dir={
        "neurokube": "neurokube",
        "neurokube.models": "models",
        "neurokube.transforms": "transforms",
        "neurokube.pipelines": "pipelines",
        "neurokube.runner_configs": "runner_configs",
    },
    # The shipped model and the runner configurations are data, read through
    # importlib.resources wherever the package is installed.
    package_data={
        "neurokube.models.reference": ["*.keras", "*.npz", "*.json", "*.md", "VERSION"],
        "neurokube.models.reference_causal": ["*.keras", "*.npz", "*.json", "*.md",
                                              "VERSION"],
        "neurokube.runner_configs": ["*.yaml", "*/*.yaml", "*/*.json", "*/*.md", "*/*.py"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES, "bench": BENCH_REQUIRES},
    entry_points={"console_scripts": ["neurokube = neurokube.pipelines.cli:main"]},
)
