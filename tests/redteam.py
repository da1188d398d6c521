"""A generator of hostile inputs: mutated EDFs and special files, for the red-team tests.

Every mutation starts from one small valid EDF+ (21 referential electrodes + EKG, 4 s,
256 Hz) and changes one thing: a header field (each field of the main header and of the
signal headers, with several wrong values), data bytes, the file length, or the kind of
file (FIFO, dangling, self and looping symbolic links, a link to ``/dev/zero``, a folder
named ``*.edf``, an unreadable file). Some mutations leave a file that is still a valid
recording (odd but legal values); the tests only require that every input ends exactly
once, as a result or a dead letter, without hanging and without non-finite output.

Example::

    names = write_mutations(folder, seed=0)      # {file name: mutation description}
"""
import os
import stat

import numpy as np

from neurokube.core.edf import write_edf

ELECTRODES = ("FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8",
              "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ", "A1", "A2")
FS_HZ, SECONDS = 256, 4
N_SIGNALS = len(ELECTRODES) + 1  # + EKG (+ the EDF+ annotation signal written by pyedflib)

# Main header fields: (name, byte offset, width).
MAIN_FIELDS = [("version", 0, 8), ("patient", 8, 80), ("recording", 88, 80),
               ("start date", 168, 8), ("start time", 176, 8), ("header bytes", 184, 8),
               ("reserved", 192, 44), ("records", 236, 8), ("record duration", 244, 8),
               ("signals", 252, 4)]
# Signal header fields: (name, width) in the order of the EDF layout.
SIGNAL_FIELDS = [("label", 16), ("transducer", 80), ("dimension", 8), ("physical min", 8),
                 ("physical max", 8), ("digital min", 8), ("digital max", 8),
                 ("prefilter", 80), ("samples per record", 8), ("reserved", 32)]
BAD_VALUES = [b"", b"-1", b"0", b"abc", b"1e39", b"-1e39", b"nan", b"inf", b"99999999",
              b"0.000001", b"\xff\xfe", b"200000"]


def base_edf(path, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(FS_HZ * SECONDS) / FS_HZ
    data = [30 * np.sin(2 * np.pi * (4 + i) * t) + rng.normal(0, 8, len(t))
            for i in range(len(ELECTRODES))] + [rng.normal(0, 100, len(t))]
    labels = [f"EEG {e}-REF" for e in ELECTRODES] + ["EEG EKG1-REF"]
    write_edf(path, np.stack(data), labels, FS_HZ)
    return path


def _put(data, offset, width, value):
    out = bytearray(data)
    out[offset:offset + width] = value[:width].ljust(width, b" ")
    return bytes(out)


def _signal_offset(data, field_index, signal):
    n = int(data[252:256].decode().strip())
    offset = 256 + sum(w for _, w in SIGNAL_FIELDS[:field_index]) * n
    return offset + signal * SIGNAL_FIELDS[field_index][1]


def file_mutations(good: bytes, rng):
    """(name, description, bytes) of every content mutation."""
    out = []
    for name, offset, width in MAIN_FIELDS:
        for k, value in enumerate(BAD_VALUES):
            out.append((f"main-{name.replace(' ', '_')}-{k}", f"main header {name} = {value!r}",
                        _put(good, offset, width, value)))
    for index, (name, width) in enumerate(SIGNAL_FIELDS):
        for signal in (0, 7, N_SIGNALS - 1):
            for k, value in enumerate(BAD_VALUES[:8]):
                out.append((f"sig{signal}-{name.replace(' ', '_')}-{k}",
                            f"signal {signal + 1} {name} = {value!r}",
                            _put(good, _signal_offset(good, index, signal), width, value)))
    header = int(good[184:192].decode().strip())
    for k, cut in enumerate([0, 1, 100, 255, 256, header - 1, header, header + 1,
                             header + 1000, len(good) - 1, len(good) - 513]):
        out.append((f"truncated-{k}", f"cut at byte {cut}", good[:cut]))
    for k, extra in enumerate([1, 512, 100_000]):
        out.append((f"extended-{k}", f"{extra} bytes appended", good + b"\0" * extra))
    for k in range(12):
        data = bytearray(good)
        for at in rng.integers(header, len(good), 200):
            data[at] = int(rng.integers(256))
        out.append((f"data-noise-{k}", "200 random data bytes", bytes(data)))
    data = bytearray(good)
    data[header:] = b"\0" * (len(good) - header)
    out.append(("data-all-zero", "every data byte zero (EDF+ annotations too)", bytes(data)))
    data = bytearray(good)
    data[header:] = b"\xff\x7f" * ((len(good) - header) // 2)
    out.append(("data-saturated", "every sample at digital maximum", bytes(data)))
    out.append(("not-edf-text", "a text file", b"this is not an EDF file\n" * 50))
    out.append(("not-edf-zip", "a zip archive", b"PK\x03\x04" + bytes(2000)))
    out.append(("empty", "an empty file", b""))
    return out


def write_mutations(folder, seed=0):
    """Write every mutation and special file into ``folder``; returns {name: description}."""
    folder = str(folder)
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    good_path = base_edf(os.path.join(folder, "good.edf"), seed)
    with open(good_path, "rb") as handle:
        good = handle.read()
    written = {"good.edf": "the unmutated recording"}
    flat = os.path.join(folder, "flat.edf")
    write_edf(flat, np.zeros((len(ELECTRODES), FS_HZ * SECONDS)),
              [f"EEG {e}-REF" for e in ELECTRODES], FS_HZ)
    written["flat.edf"] = "a valid recording whose every sample is zero"
    for name, description, data in file_mutations(good, rng):
        with open(os.path.join(folder, f"{name}.edf"), "wb") as handle:
            handle.write(data)
        written[f"{name}.edf"] = description
    specials = os.path.join(folder, "special")
    os.makedirs(specials, exist_ok=True)
    os.mkfifo(os.path.join(specials, "fifo.edf"))
    os.symlink(os.path.join(specials, "nowhere.edf"), os.path.join(specials, "dangling.edf"))
    os.symlink("self.edf", os.path.join(specials, "self.edf"))
    os.symlink("loop_b.edf", os.path.join(specials, "loop_a.edf"))
    os.symlink("loop_a.edf", os.path.join(specials, "loop_b.edf"))
    os.symlink("/dev/zero", os.path.join(specials, "zero.edf"))
    os.makedirs(os.path.join(specials, "folder.edf"))
    unreadable = os.path.join(specials, "unreadable.edf")
    with open(unreadable, "wb") as handle:
        handle.write(good)
    os.chmod(unreadable, 0)
    os.symlink(folder, os.path.join(specials, "back_to_top"))  # a folder loop
    for name in ("fifo", "dangling", "self", "loop_a", "loop_b", "zero", "folder",
                 "unreadable"):
        written[f"special/{name}.edf"] = f"special file: {name}"
    return written


def special_mode_ok(path):
    """Whether a listed path is a regular, readable file (else it must be a dead letter)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode) and os.access(path, os.R_OK)
    except OSError:
        return False
