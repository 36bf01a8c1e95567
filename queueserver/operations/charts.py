"""The supervisor report's charts, drawn here as inline SVG: no chart library, nothing fetched.

Each chart is a complete `<svg>` element built with ElementTree (so it is well-formed and every
label is escaped), with the figures written on it as text, so it reads on paper too. Colours are
presentation attributes, not styles: the pages' Content-Security-Policy allows no inline style.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH, HEIGHT = 640, 240
# Room for the axis labels around the plot.
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 20, 36
BAR = "#2f6f9f"
LINE = "#b5522b"
GRID = "#d0d0d0"
INK = "#222222"
FONT = "12"


def _svg(title: str) -> ET.Element:
    svg = ET.Element("svg", {"xmlns": SVG_NS, "viewBox": f"0 0 {WIDTH} {HEIGHT}",
                             "width": str(WIDTH), "height": str(HEIGHT), "role": "img",
                             "class": "chart"})
    ET.SubElement(svg, "title").text = title
    return svg


def _text(parent: ET.Element, x: float, y: float, text: str, anchor: str = "middle",
          **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, "text", {"x": f"{x:.1f}", "y": f"{y:.1f}", "font-size": FONT,
                                        "text-anchor": anchor, "fill": INK, **attrs})
    el.text = text
    return el


def _nice_top(value: float) -> float:
    """A round upper bound for the y axis (1, 2, 5 x 10^n), at least 1."""
    if value <= 1:
        return 1
    step = 1.0
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


def _frame(svg: ET.Element, top: float, unit: str) -> None:
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        y = TOP + plot_h * i / 4
        ET.SubElement(svg, "line", {"x1": str(LEFT), "x2": str(WIDTH - RIGHT), "y1": f"{y:.1f}",
                                    "y2": f"{y:.1f}", "stroke": GRID, "stroke-width": "1"})
        label = top * (4 - i) / 4
        _text(svg, LEFT - 6, y + 4, f"{label:g}", anchor="end")
    _text(svg, 4, 12, unit, anchor="start")


def _bars(svg: ET.Element, labels: list[str], values: list[float], shown: list[str],
          tips: list[str]) -> None:
    top = _nice_top(max(values, default=0))
    _frame(svg, top, "")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(values))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top
        x = LEFT + i * slot + slot * 0.1
        bar = ET.SubElement(svg, "rect", {
            "x": f"{x:.1f}", "y": f"{TOP + plot_h - h:.1f}", "width": f"{slot * 0.8:.1f}",
            "height": f"{h:.1f}", "fill": BAR, "data-value": f"{value:g}"})
        ET.SubElement(bar, "title").text = tips[i]
        if value:
            _text(svg, x + slot * 0.4, TOP + plot_h - h - 4, shown[i], **{"class": "value"})
        _text(svg, x + slot * 0.4, HEIGHT - BOTTOM + 16, label)


def waiting_histogram(bins: list[dict[str, Any]]) -> str:
    """How many waited how long: one bar per 5 minutes, the last open-ended."""
    svg = _svg("Waiting time 等候時間 (minutes 分鐘): tickets 籌號")
    labels = [f"{b['from_min']}+" if b["to_min"] is None else f"{b['from_min']}-{b['to_min']}"
              for b in bins]
    counts = [float(b["count"]) for b in bins]
    _bars(svg, labels, counts, [str(b["count"]) for b in bins],
          [f"{label} min: {b['count']}" for label, b in zip(labels, bins, strict=True)])
    _text(svg, WIDTH - RIGHT, 12, "tickets 籌號 / minutes 分鐘", anchor="end")
    return ET.tostring(svg, encoding="unicode")


def service_time_by_counter(by_counter: dict[str, dict[str, Any]]) -> str:
    """Mean service time at each counter, in minutes (one decimal)."""
    svg = _svg("Service time by counter 各櫃位服務時間 (mean minutes 平均分鐘)")
    numbers = list(by_counter)
    minutes = [round((by_counter[n]["service_time_s"]["mean"] or 0) / 60, 1) for n in numbers]
    _bars(svg, [f"#{n}" for n in numbers], minutes, [f"{m:g}" for m in minutes],
          [f"counter {n}: {m:g} min, {by_counter[n]['served']} served"
           for n, m in zip(numbers, minutes, strict=True)])
    _text(svg, WIDTH - RIGHT, 12, "minutes 分鐘 / counter 櫃位", anchor="end")
    return ET.tostring(svg, encoding="unicode")


def queue_length(points: list[dict[str, Any]]) -> str:
    """The most tickets waiting at once in each quarter hour of the day."""
    svg = _svg("Tickets waiting through the day 全日等候人數")
    peak = max((p["waiting"] for p in points), default=0)
    top = _nice_top(peak)
    _frame(svg, top, "")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(points) - 1)
    coords = []
    for i, p in enumerate(points):
        x = LEFT + (i * step if len(points) > 1 else plot_w / 2)
        y = TOP + plot_h - plot_h * p["waiting"] / top
        coords.append(f"{x:.1f},{y:.1f}")
        dot = ET.SubElement(svg, "circle", {"cx": f"{x:.1f}", "cy": f"{y:.1f}", "r": "3",
                                            "fill": LINE, "data-value": str(p["waiting"])})
        ET.SubElement(dot, "title").text = f"{p['at']}: {p['waiting']}"
        # Label every hour, and the busiest point, so the axis stays readable.
        if p["at"].endswith(":00") or p["waiting"] == peak:
            _text(svg, x, HEIGHT - BOTTOM + 16, p["at"])
    if coords:
        ET.SubElement(svg, "polyline", {"points": " ".join(coords), "fill": "none",
                                        "stroke": LINE, "stroke-width": "2"})
    _text(svg, WIDTH - RIGHT, 12, f"peak 最多 {peak}", anchor="end", **{"class": "value"})
    return ET.tostring(svg, encoding="unicode")
