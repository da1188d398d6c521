"""``label --report`` and ``review``: pictures and an HTML report that renders in a real
browser (headless Chromium) from disk, without console errors."""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from neurokube.pipelines import cli
from tests.conftest import REPO

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
                  "--v=0"]


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        reason = "Chromium is absent (Debian package 'chromium'; .ci/run installs it)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(reason + " and CI must run the report test", pytrace=False)
        pytest.skip(reason)
    return exe


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, random_bundle):
    from tests.conftest import ELECTRODES_19  # noqa: F401  (the factory below needs numpy)
    import numpy as np

    from neurokube.core.edf import write_edf
    root = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    labels = [f"EEG {e}-REF" for e in ELECTRODES_19 + ("A1", "A2")]
    for i, seconds in enumerate((40, 150)):  # one short recording, one with an overview
        data = rng.normal(0, 20, (len(labels), 250 * seconds))
        folder = root / "corpus" / f"s{i}"
        folder.mkdir(parents=True)
        duration = write_edf(folder / f"r{i}.edf", data, labels, 250)
        (folder / f"r{i}.csv_bi").write_text(
            "# version = csv_v1.0.0\n# bname = r{0}\n# duration = {1:.4f} secs\n"
            "channel,start_time,stop_time,label,confidence\n"
            "TERM,10.0000,25.0000,seiz,1.0000\n".format(i, duration))
    out = root / "results"
    assert cli.main(["label", "--input", str(root / "corpus"), "--output", str(out),
                     "--model", str(random_bundle), "--report",
                     "--direct_running_mode=in_memory"]) == 0
    return root, out


def test_label_report_renders_in_chromium_without_console_errors(labelled):
    root, out = labelled
    index = out / "report" / "index.html"
    assert index.exists()
    exe = _chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    profile = root / "chromium-profile"
    dom = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                          "--dump-dom", index.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console_errors = [line for line in dom.stderr.splitlines()
                      if "CONSOLE" in line and re.search(r"error|Uncaught", line, re.I)]
    assert not console_errors, console_errors
    assert "<table class=\"sortable\" id=\"recordings\">" in dom.stdout
    # The long recording's overview, the short one's page, and a page per detected event.
    pictures = list((index.parent / "pictures").rglob("*.png"))
    assert dom.stdout.count("<img ") == len(pictures) >= 2
    assert "r1.overview.png" in dom.stdout and "r0.page01.png" in dom.stdout
    assert "model_card.md" in dom.stdout
    subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                    "--window-size=1400,2000", f"--screenshot={shot}", index.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000
    # Self-contained: every picture it links lies in the folder; no network address.
    html = index.read_text()
    for src in re.findall(r"src='([^']+)'", html):
        assert (index.parent / src).is_file(), src
    assert "http://" not in html and "https://" not in html


def test_review_with_references_adds_scores_and_the_curve(labelled, random_bundle, tmp_path):
    root, out = labelled
    review = tmp_path / "review"
    assert cli.main(["review", "--input", str(root / "corpus"), "--results", str(out),
                     "--ref", str(root / "corpus"), "--model", str(random_bundle),
                     "--output", str(review), "--svg"]) == 0
    report = json.loads((review / "report" / "report.json").read_text())
    assert report["scores"]["files"] == 2 and report["scores"]["overlap"]["targets"] == 2
    assert len(report["operating_points"]) >= 5
    assert (review / "report" / "operating_points.png").exists()
    pictures = sorted(p.name for p in (review / "report" / "pictures").rglob("*.*"))
    assert "r1.overview.png" in pictures and "r1.overview.svg" in pictures
    assert "r0.page01.png" in pictures


def test_review_one_window(labelled, random_bundle, tmp_path):
    root, out = labelled
    assert cli.main(["review", "--input", str(root / "corpus"), "--results", str(out),
                     "--model", str(random_bundle), "--output", str(tmp_path / "w"),
                     "--start", "30", "--duration", "20"]) == 0
    pictures = sorted(p.name for p in pathlib.Path(tmp_path / "w").rglob("*.png")
                      if p.parent.name != "report")
    assert pictures == ["r0.page01.png", "r1.page01.png"]  # one window each, no overview


def test_rates_without_seizures_or_detections_read_n_a(tmp_path):
    from neurokube.models.bundle import REFERENCE_BUNDLE
    from neurokube.pipelines.report import write_report
    none = {"targets": 0, "hits": 0, "false_alarms": 0, "sensitivity_pct": 0.0,
            "precision_pct": 0.0, "f1_pct": 0.0, "fa_per_24h": 0.0}
    path = write_report(str(tmp_path), [], {"inputs": 1, "results": 1}, [],
                        str(REFERENCE_BUNDLE), "v", {},
                        {"files": 1, "total_duration_s": 60.0, "overlap": none}, None)
    row = pathlib.Path(path).read_text().split("OVERLAP</td>", 1)[1].split("</tr>", 1)[0]
    assert row.count("<td>n/a</td>") == 3 and "0.00" in row  # hits, FA/24h stay numbers
