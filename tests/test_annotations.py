"""Readers and writers of seizure annotation formats (transforms/annotations.py)."""
import datetime
import math
from pathlib import Path

import pytest

from neurokube.core import formats as na
from neurokube.core.formats.csv_bi import format_csv_bi
from neurokube.core.formats.events_tsv import format_events_tsv
from neurokube.core.formats.hyp import format_hyp
from neurokube.core.formats.tse import format_tse
from neurokube.core.formats import Annotation, AnnotationError, Event

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
NEDC = DATA / "nedc_example"
TUH = DATA / "tuh_headers"
needs_nedc = pytest.mark.skipif(not NEDC.is_dir(), reason=f"shared data absent: {NEDC}")
needs_tuh = pytest.mark.skipif(not TUH.is_dir(), reason=f"shared data absent: {TUH}")

CSV_PER_CHANNEL = """# version = csv_v1.0.0
# bname = aaaaaaac_s001_t000
# duration = 301.00 secs
# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
FP1-F7,0.0000,36.8868,bckg,1.0000
FP1-F7,36.8868,183.3055,fnsz,1.0000
F7-T3,40.0000,180.0000,cpsz,0.8000
"""

TSE = """version = tse_v1.0.0

0.0000 36.8868 bckg 1.0000
36.8868 183.3055 gnsz 1.0000
183.3055 301.0000 bckg 1.0000
"""

LBL = """version = lbl_v1.0.0

montage =  0, FP1-F7: EEG FP1-REF --  EEG F7-REF
montage =  1, F7-T3: EEG F7-REF --  EEG T3-REF

number_of_levels = 1
level[0] = 1

symbols[0] = {0: '(null)', 1: 'spsw', 2: 'bckg', 3: 'seiz', 4: 'fnsz'}

label = {0, 0, 0.0000, 10.5000, 0, [0.0, 0.0, 1.0, 0.0, 0.0]}
label = {0, 0, 10.5000, 20.0000, 1, [0.0, 0.0, 0.0, 0.0, 0.9]}
label = {0, 0, 12.0000, 30.0000, -1, [0.0, 0.0, 0.0, 1.0, 0.0]}
"""

EVENTS_TSV = ("onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration\n"
              "12.5\t30.0\tsz_foc_a\tn/a\tn/a\t2020-01-01 10:00:12\t600.0\n"
              "100.0\t20.0\tbckg\t0.9\tn/a\tn/a\t600.0\n")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@needs_nedc
def test_reads_nedc_csv_bi():
    ann = na.read_annotation(NEDC / "ref" / "aaaaaasf_s001_t000.csv_bi")
    assert ann.bname == "aaaaaasf_s001_t000"
    assert ann.duration_s == 1289.0
    assert ann.is_term and len(ann.events) == 17
    assert ann.events[0] == Event(42.2786, 81.7760, "seiz", 1.0, "TERM")


@needs_tuh
def test_reads_every_real_tusz_csv_bi():
    files = sorted(TUH.rglob("*.csv_bi"))
    assert len(files) == 217
    for path in files:
        ann = na.read_annotation(path)
        assert ann.is_term, path
        assert ann.bname == path.name[:-len(".csv_bi")]
        assert ann.duration_s > 0
        assert {e.label for e in ann.to_biclass().events} <= {"seiz", "bckg"}


@pytest.mark.parametrize("value, expected", [("301.00 secs", 301.0),
                                             ("1289.0000 secs", 1289.0), ("12.5", 12.5)])
def test_duration_header_variants(tmp_path, value, expected):
    text = f"# version = csv_v1.0.0\n# duration = {value}\nchannel,start_time,stop_time,label," \
           "confidence\nTERM,1.0,2.0,seiz,1.0\n"
    assert na.read_annotation(write(tmp_path, "x.csv_bi", text)).duration_s == expected


def test_per_channel_csv_keeps_channels_and_types(tmp_path):
    ann = na.read_annotation(write(tmp_path, "aaaaaaac_s001_t000.csv", CSV_PER_CHANNEL))
    assert not ann.is_term
    assert [e.channel for e in ann.events] == ["FP1-F7", "FP1-F7", "F7-T3"]
    assert [e.label for e in ann.events] == ["bckg", "fnsz", "cpsz"]
    assert [e.label for e in ann.to_biclass().events] == ["bckg", "seiz", "seiz"]
    assert ann.events[2].confidence == 0.8


@pytest.mark.parametrize("name", ["r.tse", "r.tse_bi"])
def test_tse(tmp_path, name):
    ann = na.read_annotation(write(tmp_path, name, TSE))
    assert ann.bname == "r" and ann.duration_s == 301.0 and ann.is_term
    assert [e.label for e in ann.events] == ["bckg", "gnsz", "bckg"]


@pytest.mark.parametrize("name", ["r.lbl", "r.lbl_bi"])
def test_lbl(tmp_path, name):
    ann = na.read_annotation(write(tmp_path, name, LBL))
    assert ann.duration_s == 30.0
    assert [(e.channel, e.label, e.confidence) for e in ann.events] == [
        ("FP1-F7", "bckg", 1.0), ("F7-T3", "fnsz", 0.9), ("TERM", "seiz", 1.0)]
    assert not ann.is_term


def test_events_tsv(tmp_path):
    ann = na.read_annotation(write(tmp_path, "sub-01_run-00_events.tsv", EVENTS_TSV))
    assert ann.bname == "sub-01_run-00" and ann.duration_s == 600.0
    assert ann.events == (Event(12.5, 42.5, "sz_foc_a", 1.0), Event(100.0, 120.0, "bckg", 0.9))
    assert [e.label for e in ann.to_biclass().events] == ["seiz", "bckg"]


@pytest.mark.parametrize("label", ["SEIZ", "fnsz", "TCSZ", "sz", "sz_gen_m"])
def test_seizure_labels_map_to_seiz(label):
    assert na.biclass_label(label) == "seiz"


def test_unknown_label_names_the_file(tmp_path):
    path = write(tmp_path, "bad.csv_bi", "# duration = 10 secs\nchannel,start_time,stop_time,"
                 "label,confidence\nTERM,1.0,2.0,artf,1.0\n")
    with pytest.raises(AnnotationError, match=r"bad\.csv_bi.*unknown label 'artf'"):
        na.read_annotation(path)


@pytest.mark.parametrize("row, message", [
    ("TERM,5.0,12.0,seiz,1.0", "outside the recording"),
    ("TERM,-1.0,2.0,seiz,1.0", "outside the recording"),
    ("TERM,3.0,3.0,seiz,1.0", "does not end after it starts"),
    ("TERM,4.0,3.0,seiz,1.0", "does not end after it starts"),
    ("TERM,x,3.0,seiz,1.0", "line 3: not a number"),
    ("TERM,1.0,3.0", "expected 5 fields"),
])
def test_bad_events_are_refused(tmp_path, row, message):
    path = write(tmp_path, "r.csv_bi", "# duration = 10.00 secs\n"
                 f"channel,start_time,stop_time,label,confidence\n{row}\n")
    with pytest.raises(AnnotationError, match=message) as info:
        na.read_annotation(path)
    assert "r.csv_bi" in str(info.value)


def test_event_ending_at_duration_after_rounding_is_accepted():
    assert Annotation("r", 10.0, [Event(1.0, 10.00001, "seiz")]).duration_s == 10.0


def test_missing_duration_unreadable_and_unknown_suffix(tmp_path):
    with pytest.raises(AnnotationError, match="no '# duration"):
        na.read_annotation(write(tmp_path, "a.csv_bi", "channel,start_time,stop_time,label\n"))
    binary = tmp_path / "b.csv_bi"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AnnotationError, match="b.csv_bi: unreadable"):
        na.read_annotation(binary)
    with pytest.raises(AnnotationError, match="c.txt: unknown annotation format"):
        na.read_annotation(write(tmp_path, "c.txt", ""))
    with pytest.raises(AnnotationError, match="missing.csv_bi: unreadable"):
        na.read_annotation(tmp_path / "missing.csv_bi")


# ---------------------------------------------------------------------------- writers

ANN = Annotation("rec", 10.5, [Event(6.0, 8.25, "fnsz", 0.75), Event(1.0, 2.5, "seiz", 0.9)])


TERM_WRITERS = sorted(set(na.WRITERS) - {"csv"})


def test_writer_registry_names():
    assert set(na.WRITERS) == {"csv_bi", "csv", "tse", "hyp", "events_tsv"}
    assert set(na.WRITER_SUFFIXES) == set(na.WRITERS)


def test_csv_bi_text_and_round_trip(tmp_path):
    text = format_csv_bi(ANN)
    assert text == ("# version = csv_v1.0.0\n# bname = rec\n# duration = 10.5000 secs\n"
                    "# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt\n#\n"
                    "channel,start_time,stop_time,label,confidence\n"
                    "TERM,1.0000,2.5000,seiz,0.9000\nTERM,6.0000,8.2500,seiz,0.7500\n")
    back = na.read_annotation(na.write_annotation(ANN, tmp_path / "rec.csv_bi", "csv_bi"))
    assert back.duration_s == ANN.duration_s
    assert back.events == tuple(sorted(ANN.to_biclass().events, key=lambda e: e.start_s))


def test_tse_text_fills_background_and_round_trips(tmp_path):
    assert format_tse(ANN) == (
        "version = tse_v1.0.0\n\n0.0000 1.0000 bckg 1.0000\n1.0000 2.5000 seiz 0.9000\n"
        "2.5000 6.0000 bckg 1.0000\n6.0000 8.2500 seiz 0.7500\n8.2500 10.5000 bckg 1.0000\n")
    back = na.read_annotation(na.write_annotation(ANN, tmp_path / "rec.tse", "tse"))
    assert back.duration_s == 10.5
    assert [e for e in back.events if e.label == "seiz"] == sorted(
        ANN.to_biclass().events, key=lambda e: e.start_s)


def test_hyp_stream_has_one_line_per_1s_epoch():
    lines = format_hyp(ANN).splitlines()
    assert lines[:5] == ["# version = hyp_v1.0.0", "# bname = rec", "# duration = 10.5000 secs",
                         "# epoch_duration = 1.0000 secs", "start_time,stop_time,label,confidence"]
    rows = [line.split(",") for line in lines[5:]]
    assert len(rows) == math.ceil(10.5)
    assert [r[2] for r in rows] == ["bckg", "seiz", "seiz", "bckg", "bckg", "bckg", "seiz",
                                    "seiz", "bckg", "bckg", "bckg"]
    # [2, 3) is half covered by the seizure [1, 2.5]: seiz, with that event's confidence
    assert rows[2] == ["2.0000", "3.0000", "seiz", "0.9000"]
    assert rows[7] == ["7.0000", "8.0000", "seiz", "0.7500"]
    assert rows[8] == ["8.0000", "9.0000", "bckg", "1.0000"]  # 0.25 s of seizure only
    assert rows[-1] == ["10.0000", "10.5000", "bckg", "1.0000"]


def test_hyp_stream_quarter_covered_epoch_is_background():
    ann = Annotation("r", 3.0, [Event(0.0, 1.25, "seiz", 0.6)])
    rows = [line.split(",") for line in format_hyp(ann).splitlines()[5:]]
    assert [(r[2], r[3]) for r in rows] == [("seiz", "0.6000"), ("bckg", "1.0000"),
                                            ("bckg", "1.0000")]


def test_events_tsv_text_and_round_trip(tmp_path):
    start = datetime.datetime(2020, 1, 1, 10, 0, 0)
    ann = Annotation("rec", 10.5, ANN.events, recording_start=start)
    text = format_events_tsv(ann)
    assert text.splitlines() == [
        "onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration",
        "1.0000\t1.5000\tsz\t0.9000\tn/a\t2020-01-01 10:00:00\t10.5000",
        "6.0000\t2.2500\tsz\t0.7500\tn/a\t2020-01-01 10:00:00\t10.5000"]  # the start
    back = na.read_annotation(na.write_annotation(ann, tmp_path / "rec_events.tsv",
                                                  "events_tsv"))
    assert back.bname == "rec" and back.duration_s == 10.5
    assert [(e.start_s, e.stop_s, e.label) for e in back.events] == [(1.0, 2.5, "sz"),
                                                                      (6.0, 8.25, "sz")]


def test_events_tsv_seizure_free_recording_gets_one_bckg_row():
    lines = format_events_tsv(Annotation("r", 60.0)).splitlines()
    assert lines[1:] == ["0.0000\t60.0000\tbckg\tn/a\tn/a\tn/a\t60.0000"]


def test_csv_bi_of_a_seizure_free_recording_has_one_bckg_row_as_tusz_writes_it(tmp_path):
    lines = format_csv_bi(Annotation("r", 60.0)).splitlines()
    assert lines[3:] == ["# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt", "#",
                         "channel,start_time,stop_time,label,confidence",
                         "TERM,0.0000,60.0000,bckg,1.0000"]
    back = na.read_annotation(na.write_annotation(Annotation("r", 60.0), tmp_path / "r.csv_bi",
                                                  "csv_bi"))
    assert [(e.start_s, e.stop_s, e.label) for e in back.events] == [(0.0, 60.0, "bckg")]


def test_per_channel_csv_round_trip(tmp_path):
    ann = Annotation("rec", 20.0, [Event(2.0, 9.0, "seiz", 0.8, "FP1-F7"),
                                   Event(3.0, 9.0, "fnsz", 0.7, "F7-T3")])
    back = na.read_annotation(na.write_annotation(ann, tmp_path / "rec.csv", "csv"))
    assert [(e.channel, e.start_s, e.label) for e in back.events] == [
        ("FP1-F7", 2.0, "seiz"), ("F7-T3", 3.0, "seiz")]
    with pytest.raises(AnnotationError, match="no TERM"):
        na.WRITERS["csv"](ANN)


@pytest.mark.parametrize("fmt", TERM_WRITERS)
def test_writers_refuse_overlap_and_per_channel(fmt):
    overlapping = Annotation("r", 10.0, [Event(1.0, 5.0, "seiz"), Event(4.0, 6.0, "seiz")])
    with pytest.raises(AnnotationError, match="overlapping"):
        na.WRITERS[fmt](overlapping)
    channel = Annotation("r", 10.0, [Event(1.0, 5.0, "seiz", channel="FP1-F7")])
    with pytest.raises(AnnotationError, match="per-channel"):
        na.WRITERS[fmt](channel)


def test_touching_events_are_written():
    ann = Annotation("r", 10.0, [Event(1.0, 5.0, "seiz"), Event(5.0, 6.0, "seiz")])
    assert format_csv_bi(ann).count("TERM,") == 2


def test_write_is_atomic_and_idempotent(tmp_path):
    target = tmp_path / "rec.csv_bi"
    na.write_annotation(ANN, target, "csv_bi")
    na.write_annotation(ANN, target, "csv_bi")
    assert [p.name for p in tmp_path.iterdir()] == ["rec.csv_bi"]
    bad = Annotation("rec", 10.0, [Event(1.0, 5.0, "seiz", channel="FP1-F7")])
    with pytest.raises(AnnotationError):
        na.write_annotation(bad, tmp_path / "other.csv_bi", "csv_bi")
    assert [p.name for p in tmp_path.iterdir()] == ["rec.csv_bi"]
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        na.write_annotation(ANN, tmp_path / "x.xml", "xml")
