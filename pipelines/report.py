"""The HTML run report: one self-contained folder that opens from disk, no server, no network.

``report/index.html`` holds the run summary (counts, EEG-hours, model version with a
copy of its model card, dead letters with their reasons), a table of every recording
(duration, events, seconds of seizure, highest probability) that sorts when a column
header is clicked, the review pictures, and, when references are given, the score tables
and a sensitivity / false-alarm curve across operating points. Everything it shows lies
in the folder (pictures as PNG files, the script inline).

Example::

    write_report("results/", rows, summary, bundle_dir, pictures, scores, curve)
"""
import html
import io
import json
import os
import shutil
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from neurokube.core.paths import atomic_write_bytes, atomic_write_text, join  # noqa: E402
from neurokube.models.bundle import local_bundle_folder  # noqa: E402

REPORT_FOLDER = "report"

_SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const col = Array.from(th.parentNode.children).indexOf(th);
  const asc = th.dataset.order !== 'asc';
  th.parentNode.querySelectorAll('th').forEach(h => delete h.dataset.order);
  th.dataset.order = asc ? 'asc' : 'desc';
  const key = r => { const t = r.children[col].dataset.value ?? r.children[col].textContent;
                     const n = parseFloat(t); return isNaN(n) ? t : n; };
  Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); })
    .forEach(r => body.appendChild(r));
}
document.querySelectorAll('table.sortable th').forEach(
  th => th.addEventListener('click', () => sortTable(th)));
"""
_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; cursor: pointer; } td.name { text-align: left; }
th[data-order=asc]::after { content: ' ▲'; } th[data-order=desc]::after { content: ' ▼'; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
.seiz { color: #d62728; font-weight: bold; } .muted { color: #777; }
"""


def _cell(value, digits=1):
    if isinstance(value, float):
        return f'<td data-value="{value}">{value:.{digits}f}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def curve_picture(curve: list[dict[str, Any]], path: str) -> str:
    """A sensitivity / FA-per-24h curve (OVERLAP) across P3 thresholds, as PNG."""
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=100)
    fa = [p["overlap_fa_per_24h"] for p in curve]
    sens = [p["overlap_sensitivity_pct"] for p in curve]
    ax.plot(fa, sens, marker="o", color="#1f77b4")
    for p, x, y in zip(curve, fa, sens):
        ax.annotate(f"{p['threshold']:.2f}", (x, y), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set_xlabel("false alarms per 24 h (NEDC OVERLAP)")
    ax.set_ylabel("sensitivity % (NEDC OVERLAP)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.set_title("Operating points (labels: P3 threshold)", fontsize=9)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def write_report(output_dir: str, rows: list[dict[str, Any]], summary: dict[str, Any],
                 letters: list[dict[str, Any]], bundle_dir: str, bundle_version: str,
                 pictures: dict[str, list[str]] | None = None,
                 scores: dict[str, Any] | None = None,
                 curve: list[dict[str, Any]] | None = None) -> str:
    """Write ``output_dir/report/index.html`` (and its pictures); returns its path.

    Parameters
    ----------
    rows : list of dict
        Per recording: ``name``, ``duration_s``, ``events``, ``seizure_s``, ``max_p`` and
        ``masked`` (the TCP channels not analysed).
    summary : dict
        The run's ``run.json``.
    letters : list of dict
        Dead letters (``path``, ``stage``, ``reason``).
    bundle_dir, bundle_version : str
        The model (its card is copied into the report).
    pictures : dict, optional
        Recording name -> picture paths (inside ``output_dir/report``).
    scores : dict, optional
        :func:`~neurokube.core.scoring.score_pairs` output against references.
    curve : list of dict, optional
        :func:`~neurokube.models.evaluation.operating_points` output.
    """
    folder = join(str(output_dir), REPORT_FOLDER)
    os.makedirs(folder, exist_ok=True)
    card = os.path.join(local_bundle_folder(bundle_dir), "MODEL_CARD.md")
    if os.path.exists(card):
        shutil.copyfile(card, os.path.join(folder, "model_card.md"))
    hours = sum(r["duration_s"] for r in rows) / 3600.0
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>NeuroKube run report"
             f"</title><style>{_STYLE}</style></head><body>",
             "<h1>NeuroKube run report</h1>",
             "<h2>Run</h2><table class='summary'><tbody>"]
    facts = [("recordings given", summary.get("inputs", len(rows))),
             ("labelled", summary.get("results", len(rows))),
             ("dead letters", summary.get("dead_letters", len(letters))),
             ("skipped as unchanged", summary.get("skipped_unchanged", 0)),
             ("EEG-hours labelled", f"{hours:.2f}"),
             ("model version", f"{bundle_version} (<a href='model_card.md'>model card</a>)")]
    parts += [f"<tr><th>{html.escape(k)}</th><td class='name'>{v}</td></tr>" for k, v in facts]
    parts.append("</tbody></table>")
    if letters:
        parts.append("<h2>Dead letters</h2><table class='sortable' id='dead-letters'><thead>"
                     "<tr><th>recording</th><th>stage</th><th>reason</th></tr></thead><tbody>")
        parts += [f"<tr><td class='name'>{html.escape(d['path'])}</td><td>"
                  f"{html.escape(d['stage'])}</td><td class='name'>{html.escape(d['reason'])}"
                  "</td></tr>" for d in letters]
        parts.append("</tbody></table>")
    parts.append("<h2>Recordings</h2><p class='muted'>Click a column header to sort.</p>"
                 "<table class='sortable' id='recordings'><thead><tr><th>recording</th>"
                 "<th>duration s</th><th>events</th><th>seizure s</th><th>max P(seizure)</th>"
                 "<th>masked channels</th></tr></thead><tbody>")
    for r in rows:
        link = f"<a href='#{html.escape(r['name'])}'>{html.escape(r['name'])}</a>" \
            if pictures and r["name"] in pictures else html.escape(r["name"])
        parts.append(f"<tr><td class='name'>{link}</td>{_cell(float(r['duration_s']))}"
                     f"{_cell(r['events'])}{_cell(float(r['seizure_s']))}"
                     f"{_cell(float(r['max_p']), 3)}<td class='name'>"
                     f"{html.escape(', '.join(r.get('masked', [])) or 'none')}</td></tr>")
    parts.append("</tbody></table>")
    if scores:
        parts.append(f"<h2>Scores against the references</h2><p>{scores['files']} "
                     f"recordings, {scores['total_duration_s']:.1f} s.</p><table "
                     "class='sortable' id='scores'><thead><tr><th>scorer</th><th>targets</th>"
                     "<th>hits</th><th>false alarms</th><th>sensitivity %</th>"
                     "<th>precision %</th><th>F1 %</th><th>FA/24h</th></tr></thead><tbody>")
        for name in ("overlap", "taes", "szcore"):
            if name in scores:
                s = scores[name]
                # Rates over no seizure (sensitivity) or no detection (precision, F1)
                # are undefined, not 0.
                no_targets, no_hyps = not s["targets"], not (s["hits"] or s["false_alarms"])
                rates = ["n/a" if undefined else _cell(s[key], 2) for key, undefined in
                         (("sensitivity_pct", no_targets), ("precision_pct", no_hyps),
                          ("f1_pct", no_targets or no_hyps))]
                parts.append(f"<tr><td class='name'>{name.upper()}</td>"
                             f"{_cell(float(s['targets']), 0)}{_cell(float(s['hits']), 2)}"
                             f"{_cell(float(s['false_alarms']), 2)}"
                             + "".join(r if r.startswith("<td") else _cell(r) for r in rates)
                             + f"{_cell(s['fa_per_24h'], 2)}</tr>")
        parts.append("</tbody></table>")
    if curve:
        curve_picture(curve, os.path.join(folder, "operating_points.png"))
        parts.append("<h2>Operating points</h2><img src='operating_points.png' "
                     "alt='sensitivity against false alarms per 24 h'>")
    if pictures:
        parts.append("<h2>Pictures</h2>")
        for name, paths in pictures.items():
            parts.append(f"<h3 id='{html.escape(name)}'>{html.escape(name)}</h3>")
            parts += [f"<img src='{html.escape(os.path.relpath(p, folder))}' "
                      f"alt='{html.escape(os.path.basename(p))}'>" for p in paths
                      if p.endswith(".png")]
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    path = os.path.join(folder, "index.html")
    atomic_write_text(path, "\n".join(parts) + "\n")
    atomic_write_text(os.path.join(folder, "report.json"), json.dumps(
        {"summary": summary, "recordings": rows, "dead_letters": letters, "scores": scores,
         "operating_points": curve}, indent=1) + "\n")
    return path
