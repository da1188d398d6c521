"""Flex Template entry point: runs ``neurokube label`` with the template's parameters.

The launcher calls this file with the template parameters as ``--name=value`` flags;
``--incremental=true|false`` becomes the ``--incremental`` switch (or nothing), and the
runner settings come from ``--runner_config`` (``dataflow_gpu`` unless given).
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
    if not any(a.split("=", 1)[0] in ("--runner_config", "--runner-config") for a in out):
        out = ["--runner_config", "dataflow_gpu"] + out
    return ["label"] + out


if __name__ == "__main__":
    sys.exit(cli.main(label_argv(sys.argv[1:])))
