"""The output folder of a job: safety checks before it runs, its run files after.

Before a job starts (:func:`prepare_output`): the output may not equal or contain a
folder the inputs come from (results would land beside, and overwrite, the references
there); a folder holding files NeuroKube did not write is refused unless ``--overwrite``
(a folder NeuroKube wrote carries :data:`MARKER_FILE`); temporary files left by a killed
run (older than :data:`ORPHAN_AGE_S`) are removed.

Each run writes its own ``runs/<run id>/run.json`` and ``dead_letters.jsonl``, so
overlapping runs into one folder never lose each other's records; when a run ends the
top-level ``run.json`` and ``dead_letters.jsonl`` become copies of its own. Results of a
recording that failed in this run are removed (a stale ``.csv_bi`` must not be scored).

Example::

    run_id = prepare_output("results/", inputs, overwrite=False)
    ...                                  # the pipeline writes runs/<run_id>/...
    summary = finish_run("results/", run_id, started)
"""
import datetime
import json
import os
import time
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterable

from neurokube.core.paths import (
    TMP_MARKER, atomic_write_text, check_output_location, is_local, join, local_path,
    match_remote, output_path, read_text, remove_if_present)
from neurokube.pipelines.options import UsageError
from neurokube.transforms.write import DEAD_LETTERS_FILE, RESULT_META_SUFFIX

if TYPE_CHECKING:
    from neurokube.core.sources import InputSet, Source

RUN_FILE = "run.json"
MARKER_FILE = ".neurokube-output"
RUNS_FOLDER = "runs"
# A temporary file this old belongs to no live write.
ORPHAN_AGE_S = 3600.0


def run_folder(output_dir: str, run_id: str) -> str:
    return join(str(output_dir), RUNS_FOLDER, run_id)


def _input_folders(inputs):
    folders = set()
    for source in inputs.sources:
        if is_local(source.url):
            folders.add(os.path.dirname(os.path.realpath(local_path(source.url))))
    return folders


def _check_not_over_inputs(output_dir, inputs):
    if not is_local(output_dir):
        prefix = str(output_dir).rstrip("/") + "/"
        clash = [s.url for s in inputs.sources
                 if not is_local(s.url) and (s.url.startswith(prefix)
                                             or prefix.startswith(s.url.rsplit("/", 1)[0] + "/"))]
        if clash:
            raise UsageError(f"--output {output_dir} holds or lies above input recordings "
                             f"(e.g. {clash[0]}): choose a separate output folder")
        return
    out = os.path.realpath(local_path(output_dir))
    for folder in sorted(_input_folders(inputs)):
        if folder == out or folder.startswith(out.rstrip(os.sep) + os.sep):
            raise UsageError(f"--output {output_dir} is or contains the input folder "
                             f"{folder}: results would overwrite files beside the "
                             "recordings; choose a separate output folder")


def _foreign_files(folder):
    """Some files in a local folder that NeuroKube did not write (none if it is marked).
    NeuroKube's own temporary files do not count: a run starting beside another one can
    see the other's marker while it is still being written."""
    if os.path.exists(os.path.join(folder, MARKER_FILE)):
        return []
    found = []
    for top, _, files in os.walk(folder):
        found += [os.path.join(top, f) for f in files if not f.startswith(TMP_MARKER)]
        if len(found) >= 3:
            break
    return found[:3]


def _clean_orphans(folder):
    now = time.time()
    for top, _, files in os.walk(folder):
        for name in files:
            if name.startswith(TMP_MARKER):
                path = os.path.join(top, name)
                try:
                    if now - os.path.getmtime(path) > ORPHAN_AGE_S:
                        os.unlink(path)
                except OSError:
                    pass


def prepare_output(output_dir: str, inputs: "InputSet", overwrite: bool = False) -> str:
    """Check and prepare ``output_dir`` for a run; returns the new run's id.

    Raises
    ------
    UsageError
        The output overlaps the inputs, holds files NeuroKube did not write (without
        ``overwrite``), is a file, cannot be created or written, or is in a bucket that
        does not exist.
    """
    output_dir = str(output_dir)
    _check_not_over_inputs(output_dir, inputs)
    if is_local(output_dir):
        folder = local_path(output_dir)
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise UsageError(f"--output {output_dir} is a file, not a folder")
        if os.path.isdir(folder) and not overwrite:
            foreign = _foreign_files(folder)
            if foreign:
                raise UsageError(
                    f"--output {output_dir} holds files NeuroKube did not write (e.g. "
                    f"{os.path.relpath(foreign[0], folder)}); choose an empty or NeuroKube "
                    "output folder, or pass --overwrite")
        try:
            os.makedirs(folder, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"permission denied: {folder}")
        except OSError as exc:
            raise UsageError(f"--output {output_dir}: cannot write there: {exc}") from None
        _clean_orphans(folder)
    try:
        check_output_location(output_dir)
        atomic_write_text(join(output_dir, MARKER_FILE),
                          "This folder holds NeuroKube results.\n")
    except (OSError, ValueError) as exc:
        raise UsageError(f"--output {output_dir}: {exc}") from None
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def run_dead_letters(output_dir: str, run_id: str) -> list[dict[str, Any]]:
    """The dead letters a run recorded (list of dicts)."""
    text = read_text(join(run_folder(output_dir, run_id), DEAD_LETTERS_FILE))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def remove_stale_results(output_dir: str, run_id: str,
                         path_of: Callable[[str], Iterable[str]]) -> None:
    """Delete earlier results of the recordings that failed in this run.

    ``path_of(name)`` lists the output paths a recording may have.
    """
    for letter in run_dead_letters(output_dir, run_id):
        try:
            paths = path_of(letter["path"])
        except ValueError:
            continue
        for path in paths:
            remove_if_present(path)


def results_without_input(output_dir: str, sources: Iterable["Source"]) -> list[str]:
    """The results in ``output_dir`` of recordings that are not among ``sources`` (this
    run's inputs): results of recordings removed from the input since an earlier run, or
    of another input labelled into the same folder. Returns their names relative to the
    output (``s2/01_tcp_ar/r2``), sorted, from their ``.result.json`` records; they are
    left as they are. Temporary files and the ``runs/`` folder are not looked at."""
    if is_local(output_dir):
        root = local_path(output_dir)
        found = []
        for top, dirs, files in os.walk(root):
            if top == root and RUNS_FOLDER in dirs:
                dirs.remove(RUNS_FOLDER)  # per-run copies: not walked at TUEG scale
            found.extend(os.path.relpath(os.path.join(top, f), root)
                         for f in files if f.endswith(RESULT_META_SUFFIX))
    else:
        prefix = join(output_dir, "")
        found = [path[len(prefix):] for path in match_remote(
            join(output_dir, "**" + RESULT_META_SUFFIX)) if path.startswith(prefix)]
    names = set()
    for rel in found:
        parts = rel.replace(os.sep, "/").split("/")
        if (parts[0] == RUNS_FOLDER or parts[-1].startswith(TMP_MARKER)
                or not parts[-1].endswith(RESULT_META_SUFFIX)):
            continue
        names.add("/".join(parts)[:-len(RESULT_META_SUFFIX)])
    expected = {output_path("", s.name, "").lstrip("/") for s in sources}
    return sorted(names - expected)


def finish_run(output_dir: str, run_id: str, started: float,
               summary_file: str = RUN_FILE,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Complete a run's summary (wall time and ``extra`` fields), publish it (as
    ``summary_file``) and its dead letters at the top of ``output_dir``; returns the
    summary."""
    folder = run_folder(output_dir, run_id)
    summary = json.loads(read_text(join(folder, RUN_FILE)))
    summary.update(extra or {})
    summary["run_id"] = run_id
    summary["wall_time_s"] = round(time.time() - started, 3)
    text = json.dumps(summary, indent=1, sort_keys=True) + "\n"
    atomic_write_text(join(folder, RUN_FILE), text)
    atomic_write_text(join(output_dir, summary_file), text)
    atomic_write_text(join(output_dir, DEAD_LETTERS_FILE),
                      read_text(join(folder, DEAD_LETTERS_FILE)))
    return summary
