"""Flex Template entry point: runs ``neurokube label`` with the template's parameters.

The launcher calls this file with the template parameters as ``--name=value`` flags;
``--incremental=true|false`` becomes the ``--incremental`` switch (or nothing), and the
runner settings come from ``--runner_config`` (``dataflow_gpu`` unless given), whose
workers run the GPU engine (``--device GPU --model_copies 1``) unless ``--device`` is given.
"""
import sys

from neurokube.pipelines import cli


def label_argv(argv):
    out = []
    for arg in argv:
        name, _, value = arg.partition("=")
        if name == "--incremental":
            if value.lower() in ("", "true", "1", "yes"):
                out.append("--incremental")
            continue
        out.append(arg)
    flags = {a.split("=", 1)[0] for a in out}
    if not flags & {"--runner_config", "--runner-config"}:
        out = ["--runner_config", "dataflow_gpu"] + out
    gpu = any(a in ("--runner_config=dataflow_gpu", "--runner-config=dataflow_gpu")
              or (a == "dataflow_gpu" and k and out[k - 1] in ("--runner_config",
                                                               "--runner-config"))
              for k, a in enumerate(out))
    if gpu and "--device" not in flags:  # the GPU workers' engine
        out += ["--device", "GPU"]
    if gpu and "--model_copies" not in flags:  # one model copy per GPU worker
        out += ["--model_copies", "1"]
    return ["label"] + out


if __name__ == "__main__":
    sys.exit(cli.main(label_argv(sys.argv[1:])))
