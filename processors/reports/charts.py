"""A section's Chart as an SVG image (matplotlib). Text is drawn as paths (svg.fonttype
'path', matplotlib's default), so Vietnamese letters show the same in any PDF viewer
without embedding a font; DejaVu Sans carries every Vietnamese diacritic.

matplotlib.figure.Figure is used directly, never pyplot: pyplot keeps global figures,
which a long-running alert service would have to close by hand.
"""

from __future__ import annotations

import io

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from processors.reports.model import Chart

WIDTH_IN = 6.9  # the page's text width (A4 less 2 × 1.8 cm margins)
FONT = {"font.family": "DejaVu Sans", "font.size": 8.5, "svg.hashsalt": "ioc-report"}
MAX_LABEL = 38


def _label(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _height(chart: Chart) -> float:
    if chart.kind == "barh":
        return min(1.1 + 0.3 * max(len(chart.categories), 2), 7.5)
    return 2.2


def _drawn(chart: Chart) -> list:  # type: ignore[type-arg]
    """Series with something to show (an all-zero one only adds a legend entry)."""
    shown = [s for s in chart.series if any(s.values)]
    return shown or list(chart.series[:1])


def render_svg(chart: Chart) -> str:
    with matplotlib.rc_context(FONT):
        figure = Figure(figsize=(WIDTH_IN, _height(chart)), layout="constrained")
        axes = figure.add_subplot()
        labels = [_label(c) for c in chart.categories]
        positions = range(len(labels))
        base = [0.0] * len(labels)
        drawn = _drawn(chart)
        for series in drawn:
            values = list(series.values)
            if chart.kind == "line":
                axes.plot(
                    labels,
                    values,
                    marker="o",
                    markersize=3,
                    color=series.colour,
                    label=series.label,
                )
                continue
            draw = axes.barh if chart.kind == "barh" else axes.bar
            draw(
                positions,
                values,
                0.65,
                base,
                color=series.colour,
                label=series.label,
                edgecolor="#444444",
                linewidth=0.4,
            )
            base = [b + v for b, v in zip(base, values, strict=True)]
        _axes(axes, chart, labels)
        if len(drawn) > 1:
            figure.legend(loc="outside lower center", ncols=min(len(drawn), 6), frameon=False)
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
        return out.getvalue()


def _axes(axes, chart: Chart, labels: list[str]) -> None:  # type: ignore[no-untyped-def]
    value_axis = axes.xaxis if chart.kind == "barh" else axes.yaxis
    value_axis.set_label_text(chart.unit)
    if chart.unit == "%":
        (axes.set_xlim if chart.kind == "barh" else axes.set_ylim)(0, 100)
    else:
        value_axis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    if chart.kind == "barh":
        axes.set_yticks(range(len(labels)), labels)
        # Top to bottom as in the table; one or two bars keep a bar's usual thickness.
        pad = max(0.0, (2 - len(labels)) * 0.5)
        axes.set_ylim(len(labels) - 0.5 + pad, -0.5 - pad)
        axes.grid(axis="x", color="#dddddd", linewidth=0.5)
    else:
        axes.grid(axis="y", color="#dddddd", linewidth=0.5)
        if chart.kind == "bar":
            axes.set_xticks(range(len(labels)), labels)
        step = max(len(labels) // 12, 1)
        for index, tick in enumerate(axes.get_xticklabels()):
            tick.set_visible(index % step == 0)
        axes.tick_params(axis="x", labelrotation=45 if len(labels) > 8 else 0)
        axes.set_ylim(bottom=0)
    if chart.reference is not None:
        value, label = chart.reference
        line = axes.axvline if chart.kind == "barh" else axes.axhline
        line(value, color="#b3261e", linestyle="--", linewidth=0.8)
        if chart.kind == "barh":
            axes.annotate(
                label,
                (value, 1),
                xycoords=("data", "axes fraction"),
                xytext=(2, -9),
                textcoords="offset points",
                color="#b3261e",
            )
        else:
            axes.annotate(
                label,
                (0, value),
                xycoords=("axes fraction", "data"),
                xytext=(2, 2),
                textcoords="offset points",
                color="#b3261e",
            )
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
