# syntax=docker/dockerfile:1.6
#
# NeuroKube worker image for Dataflow (GPU and CPU) and for the Beam worker-pool
# sidecar on Flink. The final stage (`worker`, the default target) is the pinned Beam
# Python SDK image, so the SDK harness (/opt/apache/beam/boot) matches the Beam version
# the pipelines are submitted with: apache-beam 2.77.0 on Python 3.11.
#
#   docker build -t $REGION-docker.pkg.dev/$PROJECT/neurokube/worker-gpu:$(git rev-parse --short HEAD) .
#   docker build --target flex-template -t .../neurokube/flex-template:TAG .
#   docker build --target submitter     -t .../neurokube/submitter:TAG .
#
# Keep the base image tag equal to the apache-beam pin in setup.py and the Python
# minor version to python_requires (tests/test_dockerfile.py checks both).

FROM apache/beam_python3.11_sdk:2.77.0 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # One model copy per GPU must not grab all GPU memory at start.
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    TF_CPP_MIN_LOG_LEVEL=1
WORKDIR /opt/neurokube
# The runner configurations and the reference model are package data: a plain install
# finds them wherever it lands.
COPY pyproject.toml setup.py README.md ./
COPY neurokube/ neurokube/
COPY pipelines/ pipelines/
COPY transforms/ transforms/
COPY models/ models/
COPY runner_configs/ runner_configs/
# The project with its exact pins from setup.py (apache-beam[gcp]==2.77.0 is already
# in the base image and stays), plus TensorFlow's CUDA wheels at the same version.
RUN pip install --no-cache-dir . "tensorflow[and-cuda]==2.21.0" \
 && python -c "import apache_beam, neurokube; assert apache_beam.__version__ == '2.77.0', apache_beam.__version__"

# Job submitter for Flink (the relabel CronJob): Java 17 and the Beam Flink job server,
# fetched and checksum-verified by the same script CI uses.
FROM base AS submitter
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven \
 && rm -rf /var/lib/apt/lists/*
COPY .ci/fetch_flink_job_server.sh .ci/jar_checks.sh .ci/
COPY .ci/flink-job-server/ .ci/flink-job-server/
# The job server lands at /opt/neurokube-cache/flink/job-server.jar
# (runner_configs/flink_kubernetes.yaml names that path).
ENV NEUROKUBE_CACHE=/opt/neurokube-cache
RUN bash .ci/fetch_flink_job_server.sh && rm -rf /root/.m2
ENTRYPOINT ["neurokube"]

# Dataflow Flex Template launcher: the worker image plus Google's launcher binary.
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base:latest AS launcher
FROM base AS flex-template
COPY --from=launcher /opt/google/dataflow/python_template_launcher /opt/google/dataflow/python_template_launcher
COPY runner_configs/dataflow/flex_main.py /opt/neurokube/flex_main.py
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=/opt/neurokube/flex_main.py \
    FLEX_TEMPLATE_PYTHON_SETUP_FILE=/opt/neurokube/setup.py
ENTRYPOINT ["/opt/google/dataflow/python_template_launcher"]

# Default target: the SDK worker image (Dataflow --sdk_container_image, Flink sidecar).
FROM base AS worker
ENTRYPOINT ["/opt/apache/beam/boot"]
