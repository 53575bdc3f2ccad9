"""Write the HTML page of a regression run: per case, golden vs current plots, differences, metrics and players."""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io.atomic import atomic_write
from ..audio.waveform import Audio
from ..errors import VitsAdapterError
from ..audio.logmel import DEFAULT_HOP, log_mel_spectrogram

if TYPE_CHECKING:
    from .runner import CaseResult, RegressionResult

REPORT_NAME = "index.html"
_DPI = 100
_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
.pass, .updated { color: #1a7f37; } .drift, .missing, .error { color: #cf222e; font-weight: bold; }
img { max-width: 100%; } section { margin-top: 2.5em; }
"""


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise VitsAdapterError(
            "the regression report plots with matplotlib, which is not installed: "
            "pip install 'vits-adapters[report]'"
        ) from err
    return Figure


def _save_png(figure: Any, path: Path) -> Path:
    # A bare Figure (no pyplot) renders with the Agg canvas and leaves matplotlib's global backend alone.
    with atomic_write(path) as temp:
        figure.savefig(temp, format="png", dpi=_DPI)
    return path


def _plot_waveforms(case: CaseResult, path: Path) -> Path:
    figure = _figure_class()(figsize=(11, 4.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    for label, audio, style in (("golden", case.golden, "-"), ("current", case.current, "--")):
        if audio is not None:
            seconds = np.arange(audio.waveform.size) / audio.sample_rate
            top.plot(seconds, audio.waveform, style, linewidth=0.7, label=label)
    top.set_ylabel("amplitude")
    top.legend(loc="upper right")
    top.set_title(f"{case.name}: waveform")
    if case.golden is not None and case.current is not None:
        n = min(case.golden.waveform.size, case.current.waveform.size)
        diff = case.current.waveform[:n].astype(np.float64) - case.golden.waveform[:n]
        bottom.plot(np.arange(n) / case.golden.sample_rate, diff, color="tab:red", linewidth=0.7)
        bottom.set_title("difference (current - golden)")
    else:
        bottom.set_title("difference: no golden to compare with")
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("amplitude")
    return _save_png(figure, path)


def _plot_logmels(case: CaseResult, path: Path) -> Path:
    shown = [(label, audio) for label, audio in (("golden", case.golden), ("current", case.current)) if audio is not None]
    mels = {label: log_mel_spectrogram(audio.waveform, audio.sample_rate) for label, audio in shown}
    panels = list(mels.items())
    if len(mels) == 2:
        frames = min(m.shape[1] for m in mels.values())
        panels.append(("difference (current - golden), dB", mels["current"][:, :frames] - mels["golden"][:, :frames]))
    figure = _figure_class()(figsize=(11, 2.6 * len(panels)), layout="constrained")
    axes = np.atleast_1d(figure.subplots(len(panels), 1))
    sample_rate = shown[0][1].sample_rate
    top = max(float(m.max()) for m in mels.values())
    for axis, (label, values) in zip(axes, panels):
        seconds = values.shape[1] * DEFAULT_HOP / sample_rate
        extent = (0.0, seconds, 0, values.shape[0])
        if label.startswith("difference"):
            limit = max(float(np.abs(values).max()), 1e-12)
            image = axis.imshow(values, origin="lower", aspect="auto", extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit)
        else:
            image = axis.imshow(values, origin="lower", aspect="auto", extent=extent, vmin=top - 80.0, vmax=top)
            label = f"{label}: log-mel (dB)"
        axis.set_title(f"{case.name}: {label}")
        axis.set_ylabel("mel band")
        figure.colorbar(image, ax=axis)
    axes[-1].set_xlabel("time (s)")
    return _save_png(figure, path)


def _copy(source: Path, target: Path) -> Path:
    with atomic_write(target) as temp:
        shutil.copyfile(source, temp)
    return target


def _save_audio(audio: Audio, target: Path) -> Path:
    return audio.save(target, subtype="FLOAT", overwrite=True)  # the report folder is rewritten on every run


def _metrics_table(case: CaseResult) -> str:
    limits = case.tolerances.to_dict()
    rows = []
    for name, value in case.metrics.items():
        limit = limits.get(name)
        flag = " class='drift'" if name in case.failed else ""
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append(f"<tr><td>{name}</td><td{flag}>{shown}</td><td>{'' if limit is None else f'{limit:g}'}</td></tr>")
    if not rows:
        return "<p>no metrics</p>"
    return "<table><tr><th>metric</th><th>value</th><th>tolerance</th></tr>" + "".join(rows) + "</table>"


def _case_section(case: CaseResult, root: Path) -> str:
    folder = root / case.name
    parts = [
        f"<section id='{html.escape(case.name)}'><h2>{html.escape(case.name)}: "
        f"<span class='{case.status}'>{case.status}</span></h2>"
    ]
    if case.failed:
        parts.append(f"<p>beyond tolerance: {html.escape(', '.join(case.failed))}</p>")
    if case.messages:
        parts.append("<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in case.messages) + "</ul>")
    parts.append(_metrics_table(case))
    players = []
    if case.golden_wav is not None and case.golden_wav.is_file():
        players.append(("golden", _copy(case.golden_wav, folder / "golden.wav")))
    if case.current is not None:
        players.append(("current", _save_audio(case.current, folder / "current.wav")))
    for label, wav in players:
        link = html.escape(wav.relative_to(root).as_posix())
        parts.append(f"<p>{label}: <audio controls src='{link}'></audio> <a href='{link}'>{label}.wav</a></p>")
    if case.current is not None or case.golden is not None:
        for png in (_plot_waveforms(case, folder / "waveform.png"), _plot_logmels(case, folder / "logmel.png")):
            link = html.escape(png.relative_to(root).as_posix())
            parts.append(f"<p><img src='{link}' alt='{html.escape(case.name)} {png.stem}'></p>")
    parts.append("</section>")
    return "\n".join(parts)


def write_report(result: RegressionResult, report_dir: str | os.PathLike[str]) -> Path:
    """Write ``index.html`` plus per-case PNGs and WAVs under ``report_dir``; return the page's path.

    Each case gets ``<name>/golden.wav`` (a copy of the golden), ``<name>/current.wav``, ``<name>/waveform.png``
    (both waveforms and their difference) and ``<name>/logmel.png`` (both log-mel spectrograms and their
    difference). Every file is written atomically; links in the page are relative.

    Raises:
        VitsAdapterError: matplotlib is not installed (``pip install 'vits-adapters[report]'``).
    """
    _figure_class()  # fail before writing anything when matplotlib is missing
    root = Path(report_dir)
    summary_rows = "".join(
        f"<tr><td><a href='#{html.escape(c.name)}'>{html.escape(c.name)}</a></td>"
        f"<td class='{c.status}'>{c.status}</td><td>{html.escape(', '.join(c.failed) or '-')}</td></tr>"
        for c in result.cases
    )
    verdict = "all cases passed" if result.ok else f"failed: {', '.join(result.failures)}"
    mode = "goldens written (--update)" if result.updated else "compared with the goldens"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            "<html><head><meta charset='utf-8'><title>vits-adapters regression report</title>",
            f"<style>{_STYLE}</style></head><body>",
            "<h1>vits-adapters regression report</h1>",
            f"<p>{html.escape(mode)}; golden folder <code>{html.escape(str(result.golden_dir))}</code>; "
            f"<strong>{html.escape(verdict)}</strong></p>",
            f"<table><tr><th>case</th><th>status</th><th>failed</th></tr>{summary_rows}</table>",
            *(_case_section(case, root) for case in result.cases),
            "</body></html>",
        ]
    )
    target = root / REPORT_NAME
    with atomic_write(target) as temp:
        temp.write_text(page + "\n", encoding="utf-8")
    return target
