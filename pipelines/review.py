"""Pictures of what the detector did: the EEG with its decisions, as a reviewer reads them.

For each recording (``neurokube review``, or :func:`review_recording` from Python):

- a **page** per window: the TCP channels (band-passed as the detector saw them) over
  time, with each channel's P1 probability as a heat strip under its trace; above them,
  P(seizure) of P3 (fused) and P2 with the decision threshold, and two event bars as in
  the Temple visualizer: the hypothesis (seizure red, background green) and, when given,
  the reference;
- for recordings longer than ``page_s``, an **overview** first: every channel's P1
  probability as a heat map over the whole recording, the fused posterior and the event
  bars, then one page around each detected or reference event.

matplotlib renders PNG (and SVG on request); nothing is drawn by hand.

Example::

    pictures = review_recording(source, "results/", "review/", ref_path="ref/a.csv_bi")
"""
import io
import os
from typing import TYPE_CHECKING, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neurokube.core.edf import open_recording  # noqa: E402
from neurokube.core.feature_spec import TCP_CHANNELS  # noqa: E402
from neurokube.core.filters import bandpass  # noqa: E402
from neurokube.core.formats import SEIZ, biclass_label, read_annotation  # noqa: E402
from neurokube.core.montage import to_tcp  # noqa: E402
from neurokube.core.paths import atomic_write_bytes, exists, output_path, read_bytes  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from neurokube.core.feature_spec import FeatureSpec
    from neurokube.core.montage import TcpSignals
    from neurokube.core.sources import Source

PAGE_S = 60.0
EVENT_MARGIN_S = 20.0
SEIZ_COLOUR, BCKG_COLOUR = "#d62728", "#2ca02c"


def load_posteriors(results_dir: str, name: str) -> dict[str, np.ndarray]:
    """The ``.posteriors.npz`` a ``label`` run wrote for recording ``name`` (dict)."""
    path = output_path(results_dir, name, ".posteriors.npz")
    if not exists(path):
        raise FileNotFoundError(f"{name}: no posteriors in {results_dir} (label it with "
                                "--formats csv_bi,posteriors)")
    with np.load(io.BytesIO(read_bytes(path)), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def seizure_events(annotation_path: str | os.PathLike[str] | None) -> list[tuple[float, float]]:
    """(start_s, stop_s) of the seizure events of a term annotation file, or []."""
    if not annotation_path or not exists(annotation_path):
        return []
    ann = read_annotation(annotation_path)
    return [(e.start_s, e.stop_s) for e in ann.events
            if biclass_label(e.label, str(annotation_path)) == SEIZ]


def _event_bar(ax, events, duration_s, t0, t1, label):
    ax.axvspan(t0, t1, color=BCKG_COLOUR, alpha=0.6, lw=0)
    for start, stop in events:
        if stop > t0 and start < t1:
            ax.axvspan(max(start, t0), min(stop, t1), color=SEIZ_COLOUR, lw=0)
    ax.set_yticks([])
    ax.set_xticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    ax.set_xlim(t0, t1)


def _probability_panel(ax, post, t0, t1, threshold):
    step = float(post["step_s"])
    t = (np.arange(len(post["fused"])) + 0.5) * step
    keep = (t >= t0 - step) & (t <= t1 + step)
    ax.plot(t[keep], post["fused"][keep], color="black", lw=1.2, label="P3 (fused)")
    ax.plot(t[keep], post["p2"][keep], color="#1f77b4", lw=0.8, alpha=0.8, label="P2")
    ax.axhline(threshold, color=SEIZ_COLOUR, ls="--", lw=0.8, label="threshold")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(t0, t1)
    ax.tick_params(labelbottom=False)
    ax.set_ylabel("P(seizure)", fontsize=8)
    ax.legend(loc="upper right", fontsize=7, ncol=3, frameon=True, framealpha=0.85,
              edgecolor="none")


def plot_page(tcp: "TcpSignals", post: dict[str, np.ndarray], hyp: list[tuple[float, float]],
              ref: list[tuple[float, float]] | None, t0: float, t1: float, threshold: float,
              title: str) -> "Figure":
    """One page: probabilities, event bars, channels with their P1 heat strips."""
    channels = list(tcp.channels)
    rows = len(channels)
    fig = plt.figure(figsize=(14, 2.2 + 0.42 * rows), dpi=100)
    heights = [2.2, 0.35, 0.35] + [1.0] * rows
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.08,
                            left=0.09, right=0.99, top=0.93, bottom=0.05)
    _probability_panel(fig.add_subplot(grid[0]), post, t0, t1, threshold)
    _event_bar(fig.add_subplot(grid[1]), hyp, tcp.duration_s, t0, t1, "hypothesis")
    ref_ax = fig.add_subplot(grid[2])
    if ref is None:
        ref_ax.set_axis_off()
    else:
        _event_bar(ref_ax, ref, tcp.duration_s, t0, t1, "reference")
    fs = tcp.fs_hz
    a, b = int(max(0, t0) * fs), int(min(tcp.duration_s, t1) * fs)
    t = np.arange(a, b) / fs
    scale = np.percentile(np.abs(tcp.data_uv[:, a:b]), 99) if b > a else 1.0
    step = float(post["step_s"])
    full = list(TCP_CHANNELS)
    for row, name in enumerate(channels):
        ax = fig.add_subplot(grid[3 + row])
        p1 = post["p1"][full.index(name)]
        ax.imshow(p1[None, :], aspect="auto", cmap="Reds", vmin=0, vmax=1,
                  extent=(0, len(p1) * step, -1.0, -0.6), alpha=0.9)
        ax.plot(t, np.clip(tcp.data_uv[row, a:b] / (2.5 * scale + 1e-9), -0.5, 0.5) + 0.05,
                color="black", lw=0.4)
        ax.set_ylim(-1.0, 0.6)
        ax.set_xlim(t0, t1)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
        if row < rows - 1:
            ax.set_xticks([])
    ax.set_xlabel("time (s)", fontsize=8)
    masked = [n for n, kept in zip(TCP_CHANNELS, post["mask"]) if not kept]
    fig.suptitle(f"{title}   (channels band-passed; ±{2.5 * scale:.0f} µV full scale; red "
                 "strips: P1 per channel)\nmasked, not analysed: "
                 f"{', '.join(masked) or 'none'}", fontsize=9)
    return fig


def plot_overview(post: dict[str, np.ndarray], hyp: list[tuple[float, float]],
                  ref: list[tuple[float, float]] | None, duration_s: float, threshold: float,
                  title: str) -> "Figure":
    """The whole recording: P1 heat map of every channel, fused posterior, event bars."""
    step = float(post["step_s"])
    mask = post["mask"].astype(bool)
    names = [n if m else f"{n} (masked)" for n, m in zip(TCP_CHANNELS, mask)]
    fig = plt.figure(figsize=(14, 7), dpi=100)
    # A narrow column of its own for the colour bar keeps every panel on one time axis.
    grid = fig.add_gridspec(4, 2, height_ratios=[2.0, 0.35, 0.35, 5.0],
                            width_ratios=[1.0, 0.012], hspace=0.1, wspace=0.01,
                            left=0.09, right=0.955, top=0.94, bottom=0.07)
    _probability_panel(fig.add_subplot(grid[0, 0]), post, 0.0, duration_s, threshold)
    _event_bar(fig.add_subplot(grid[1, 0]), hyp, duration_s, 0.0, duration_s, "hypothesis")
    ref_ax = fig.add_subplot(grid[2, 0])
    if ref is None:
        ref_ax.set_axis_off()
    else:
        _event_bar(ref_ax, ref, duration_s, 0.0, duration_s, "reference")
    ax = fig.add_subplot(grid[3, 0])
    # Masked channels have no P1: grey rows, labelled so, rather than left out.
    p1 = np.ma.masked_array(post["p1"], np.repeat(~mask[:, None], post["p1"].shape[1], 1))
    cmap = plt.get_cmap("Reds").copy()
    cmap.set_bad("0.8")
    image = ax.imshow(p1, aspect="auto", cmap=cmap, vmin=0, vmax=1,
                      extent=(0, post["p1"].shape[1] * step, len(names) - 0.5, -0.5),
                      interpolation="nearest")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=7)
    for label, kept in zip(ax.get_yticklabels(), mask):
        if not kept:
            label.set_color("0.45")
    ax.set_xlim(0, duration_s)
    ax.set_xlabel("time (s)", fontsize=8)
    fig.colorbar(image, cax=fig.add_subplot(grid[3, 1]), label="P1")
    fig.suptitle(f"{title}: overview", fontsize=10)
    return fig


def _windows(duration_s, hyp, ref, page_s, start_s, length_s):
    if start_s is not None or length_s is not None:
        start = start_s or 0.0
        return [(start, min(duration_s, start + (length_s or page_s)))]
    if duration_s <= page_s:
        return [(0.0, duration_s)]
    spans = []  # a hypothesis and the reference it overlaps make one page
    for s, e in sorted(set(hyp) | set(ref or [])):
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return [(max(0.0, s - EVENT_MARGIN_S), min(duration_s, max(e, s + page_s - 2 *
                                                               EVENT_MARGIN_S) + EVENT_MARGIN_S))
            for s, e in spans]


def _save(fig, base, formats):
    paths = []
    for fmt in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt)
        atomic_write_bytes(f"{base}.{fmt}", buffer.getvalue())
        paths.append(f"{base}.{fmt}")
    plt.close(fig)
    return paths


def review_recording(source: "Source", results_dir: str, out_dir: str, spec: "FeatureSpec",
                     threshold: float, ref_path: str | None = None,
                     start_s: float | None = None, duration_s: float | None = None,
                     formats: Sequence[str] = ("png",), page_s: float = PAGE_S) -> list[str]:
    """Write the pictures of one recording; returns their paths (PNG first).

    Parameters
    ----------
    source : Source
        The recording (its ``url`` is read, its ``name`` names the pictures).
    results_dir : str
        A ``label`` output holding ``<name>.posteriors.npz`` and ``<name>.csv_bi``.
    out_dir : str
    spec : FeatureSpec
        The front end the model used (the traces are filtered as it filtered them).
    threshold : float
        The P3 threshold drawn on the probability trace.
    ref_path : str, optional
        The reference annotation.
    start_s, duration_s : float, optional
        Draw one page of this window only.
    """
    post = load_posteriors(results_dir, source.name)
    hyp = seizure_events(output_path(results_dir, source.name, ".csv_bi"))
    ref = seizure_events(ref_path) if ref_path else None
    with open_recording(source.url, spec) as src:
        tcp = to_tcp(src.read(), src.labels, src.fs_hz, spec, source.name, plan=src.plan)
    tcp.data_uv = bandpass(tcp.data_uv, spec)
    base = output_path(out_dir, source.name, "")
    paths = []
    if tcp.duration_s > page_s and start_s is None and duration_s is None:
        paths += _save(plot_overview(post, hyp, ref, tcp.duration_s, threshold, source.name),
                       base + ".overview", formats)
    for k, (t0, t1) in enumerate(_windows(tcp.duration_s, hyp, ref, page_s, start_s,
                                          duration_s)):
        fig = plot_page(tcp, post, hyp, ref, t0, t1, threshold,
                        f"{source.name}  [{t0:.0f}, {t1:.0f}] s")
        paths += _save(fig, f"{base}.page{k + 1:02d}", formats)
    return paths


def relative_to(path: str, folder: str) -> str:
    """``path`` relative to ``folder`` with '/' separators (for links in the report)."""
    return os.path.relpath(path, folder).replace(os.sep, "/")
