"""Inline SVG plots for the HTML report, drawn without a plotting library.

Evidence plots are data (``{"type": "heatmap", ...}``), so report.json stays diffable; this module
draws them so the HTML report stays one offline file whose pictures always match its numbers.
Labels come from user data (class names, column names, series names), so every string is escaped
here, at the one place it enters markup.

    >>> svg = render_plot({"type": "bar", "x": ["cat", "dog"], "values": [0.9, 0.7], "max": 1.0})
    >>> svg.startswith("<svg")
    True

A spec this module cannot draw (an unknown type, ragged or non-numeric data, far too many points)
becomes a plain HTML table of the spec instead of an exception: one odd plot must never stop the
report from rendering. ``PLOTS`` maps each plot type to its drawing function.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["PALETTE", "PLOTS", "hbars", "render_plot"]

#: Colour-blind-friendly series colours (Okabe-Ito, darkened for contrast on white).
PALETTE = ("#0b6fb8", "#d55e00", "#009e73", "#8e44ad", "#cc79a7", "#56b4e9", "#b8860b", "#4b5563")
_GRID, _AXIS, _INK, _MUTED = "#e5e7eb", "#9ca3af", "#1f2937", "#6b7280"
_HEAT = ((247, 251, 255), (107, 174, 214), (8, 48, 107))  # light -> dark blue
_MAX_CELLS, _MAX_POINTS, _MAX_BARS = 10_000, 5_000, 300
_CHAR_W = 6.2  # average glyph width at 11px, for layout only

PlotFn = Callable[[Mapping[str, Any], str], str]


def render_plot(spec: object, title: str = "") -> str:
    """Draw one plot spec as an ``<svg>`` string, or a readable table if it cannot be drawn."""
    if not isinstance(spec, Mapping):
        return _fallback({"data": spec}, "plot data is not an object")
    draw = PLOTS.get(str(spec.get("type")))
    if draw is None:
        return _fallback(spec, f"no drawing for plot type {spec.get('type')!r}")
    try:
        return draw(spec, title)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as err:
        return _fallback(spec, f"cannot draw this {spec.get('type')} plot: {err}")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _num(value: object) -> float | None:
    """A finite float, ``None`` for a gap; anything else is malformed data."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{value!r} is not a number")
    return float(value) if math.isfinite(value) else None


def _fmt(v: float) -> str:
    if v == int(v) and abs(v) < 1e7:
        return str(int(v))
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"


def _text(
    x: float, y: float, s: object, anchor: str = "start", extra: str = "", limit: int = 0
) -> str:
    """A text element; labels cut to ``limit`` characters keep the whole label as a tooltip."""
    full = str(s)
    shown = full if not limit or len(full) <= limit else full[: limit - 1] + "\u2026"
    tip = f"<title>{_e(full)}</title>" if shown != full else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{tip}{_e(shown)}</text>'


def _ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering ``[lo, hi]`` (1-2-2.5-5 steps; whole steps for counts)."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    step = max(1.0, round(step)) if integer else step
    start, stop = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(start, stop + 1)]


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = _GRID) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "", extra: str = "") -> str:
    """A rectangle; ``tip`` becomes its hover tooltip (escaped)."""
    head = f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" {extra}'
    return f"{head}><title>{_e(tip)}</title></rect>" if tip else f"{head}/>"


def _svg(width: float, height: float, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{_e(title)}" '
        f'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, sans-serif" font-size="11" '
        f'fill="{_INK}"><title>{_e(title)}</title>{body}</svg>'
    )


def _legend(
    names: Sequence[str], colours: Sequence[str], x0: float, width: float
) -> tuple[str, float]:
    """Swatches and names from ``x0``, wrapping at ``width``; returns the markup and its height."""
    parts, x, y = [], x0, 14.0
    for name, colour in zip(names, colours):
        step = 24 + _CHAR_W * min(len(name), 24)
        if x > x0 and x + step > width:
            x, y = x0, y + 16
        parts.append(_rect(x, y - 9, 10, 10, colour, extra='rx="2"'))
        parts.append(_text(x + 14, y, name, limit=24))
        x += step
    return "".join(parts), y + 10


def _fallback(spec: Mapping[str, Any], reason: str) -> str:
    """The spec as a key/value table, so its numbers stay readable when it cannot be drawn."""
    rows = []
    for key, value in spec.items():
        shown = json.dumps(value, ensure_ascii=False, default=str)
        shown = shown if len(shown) <= 2000 else shown[:2000] + " \u2026"
        rows.append(f"<tr><th>{_e(key)}</th><td><code>{_e(shown)}</code></td></tr>")
    return f'<table class="plot-fallback"><caption>{_e(reason)}</caption>{"".join(rows)}</table>'


def hbars(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str = "",
    stacked: bool = False,
    vmax: float | None = None,
    colours: Sequence[str] = PALETTE,
    bar_colours: Sequence[str] | None = None,
) -> str:
    """Horizontal bars: one series, several side by side (grouped), or ``stacked``.

    Horizontal because category labels (class names, stages) are words that would not fit under
    vertical bars. ``bar_colours`` colours each category of a single series (e.g. by severity).
    """
    cats = [str(c) for c in categories]
    if not cats or len(cats) > _MAX_BARS:
        raise ValueError(f"{len(cats)} categories (1 to {_MAX_BARS} can be drawn)")
    values = [[_num(v) for v in vals] for _, vals in series]
    if not values or any(len(v) != len(cats) for v in values):
        raise ValueError("every series needs one value per category")
    n, names = len(values), [str(name) for name, _ in series]
    totals = [sum(v[i] or 0.0 for v in values) for i in range(len(cats))] if stacked else []
    flat = totals or [x for v in values for x in v if x is not None]
    hi = max([0.0, *flat, *([vmax] if vmax is not None else [])]) or 1.0
    ticks = _ticks(min([0.0, *flat]), hi, integer=all(v == int(v) for v in flat))
    lo, hi = ticks[0], ticks[-1]
    label_w, plot_w = min(170.0, 12 + _CHAR_W * max(len(c) for c in cats)), 340.0
    width = label_w + plot_w + 44
    legend, top = _legend(names, [colours[s % len(colours)] for s in range(n)], label_w, width)
    if n == 1 and not stacked:
        legend, top = "", 8.0
    bar_h = 14.0 if stacked or n == 1 else 10.0
    row_h = (bar_h if stacked else bar_h * n) + 8
    height = top + row_h * len(cats) + 26

    def px(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    body = [legend]
    for t in ticks:
        body.append(_line(px(t), top - 4, px(t), height - 22))
        body.append(_text(px(t), height - 8, _fmt(t), "middle", f'fill="{_MUTED}"'))
    for i, cat in enumerate(cats):
        y, start = top + i * row_h + 4, 0.0
        body.append(_text(label_w - 6, y + (row_h - 8) / 2 + 4, cat, "end", limit=26))
        for s, v in enumerate(values[k][i] for k in range(n)):
            colour = bar_colours[i] if bar_colours and n == 1 else colours[s % len(colours)]
            by = y if stacked else y + s * bar_h
            if v is None:
                body.append(_text(px(0) + 4, by + bar_h - 3, "n/a", extra=f'fill="{_MUTED}"'))
                continue
            x0, x1 = sorted((px(start), px(start + v)) if stacked else (px(0.0), px(v)))
            tip = f"{cat} \u00b7 {names[s]}: {_fmt(v)}" if names[s] else f"{cat}: {_fmt(v)}"
            body.append(_rect(x0, by, max(x1 - x0, 0.5), bar_h - 1, colour, tip))
            if not stacked:
                body.append(_text(x1 + 4, by + bar_h - 3, _fmt(v), extra='font-size="10"'))
            elif v and x1 - x0 >= 8 * len(_fmt(v)):
                body.append(
                    _text((x0 + x1) / 2, by + bar_h - 3.5, _fmt(v), "middle", 'fill="#fff"')
                )
            start += v
        if stacked:
            body.append(
                _text(px(totals[i]) + 4, y + bar_h - 3, _fmt(totals[i]), extra='font-weight="600"')
            )
    return _svg(width, height, "".join(body), title)


def _bar(spec: Mapping[str, Any], title: str) -> str:
    """``{"x", "values", "max"?}``, or ``{"x", "series": [{"name", "values"}], "stacked"?}``."""
    vmax = _num(spec.get("max"))
    if "series" in spec:
        series = [(str(s["name"]), list(s["values"])) for s in spec["series"]]
        return hbars(spec["x"], series, title=title, stacked=bool(spec.get("stacked")), vmax=vmax)
    return hbars(spec["x"], [("", list(spec["values"]))], title=title, vmax=vmax)


def _heat(t: float) -> str:
    t = min(max(t, 0.0), 1.0) * (len(_HEAT) - 1)
    i = min(int(t), len(_HEAT) - 2)
    a, b, f = _HEAT[i], _HEAT[i + 1], t - i
    return "#" + "".join(f"{round(a[k] + (b[k] - a[k]) * f):02x}" for k in range(3))


def _bound(spec: Mapping[str, Any], key: str, default: float) -> float:
    value = _num(spec.get(key))
    return default if value is None else value


def _heatmap(spec: Mapping[str, Any], title: str) -> str:
    """``{"x": column labels, "y": row labels, "values": rows}``, e.g. a confusion matrix."""
    xs, ys = [str(v) for v in spec["x"]], [str(v) for v in spec["y"]]
    if not xs or len(xs) * len(ys) > _MAX_CELLS:
        raise ValueError(f"{len(xs)} x {len(ys)} cells (1 to {_MAX_CELLS} can be drawn)")
    grid = [[_num(v) for v in row] for row in spec["values"]]
    if len(grid) != len(ys) or any(len(row) != len(xs) for row in grid):
        raise ValueError(f"values must be {len(ys)} rows of {len(xs)} numbers")
    finite = [v for row in grid for v in row if v is not None]
    lo, hi = (
        _bound(spec, "min", min(finite, default=0.0)),
        _bound(spec, "max", max(finite, default=1.0)),
    )
    cell = float(max(8, min(44, 440 // max(len(xs), len(ys)))))
    longest = max(len(x) for x in xs)
    # Column labels turn when they would not fit a cell; fully upright when cells are narrower
    # than a line of text, so turned labels never overlap each other.
    angle = 0 if longest * _CHAR_W <= cell - 4 else (90 if cell < 16 else 45)
    left = min(150.0, 14 + _CHAR_W * max(len(y) for y in ys)) + (16 if spec.get("y_label") else 0)
    top, grid_w, grid_h = 8.0, cell * len(xs), cell * len(ys)
    reach = min(longest, 16) * _CHAR_W * math.sin(math.radians(angle))
    bottom = (reach + 14 if angle else 18) + (16 if spec.get("x_label") else 0)
    muted = f'fill="{_MUTED}"'
    body = []
    for r, row in enumerate(grid):
        y = top + r * cell
        if cell >= 11 or r % 5 == 0:  # tiny cells: label every fifth row
            body.append(_text(left - 6, y + cell / 2 + 4, ys[r], "end", limit=22))
        for c, v in enumerate(row):
            t = 0.0 if v is None else (v - lo) / ((hi - lo) or 1.0)
            tip = f"{ys[r]} \u2192 {xs[c]}: {'n/a' if v is None else _fmt(v)}"
            fill = "#f3f4f6" if v is None else _heat(t)
            body.append(
                _rect(left + c * cell, y, cell, cell, fill, tip, 'stroke="#fff" stroke-width="0.5"')
            )
            if v is not None and cell >= 22 and len(_fmt(v)) * 6 < cell:
                ink = f'fill="{"#fff" if t > 0.55 else _INK}" font-size="10"'
                body.append(
                    _text(left + (c + 0.5) * cell, y + cell / 2 + 4, _fmt(v), "middle", ink)
                )
    for c, x in enumerate(xs):
        if cell >= 11 or c % 5 == 0:
            cx, cy = left + (c + 0.5) * cell, top + grid_h + 12
            turn = f'transform="rotate(-{angle} {cx + 3:.1f} {cy:.1f})"' if angle else ""
            body.append(
                _text(cx + (3 if angle else 0), cy, x, "end" if angle else "middle", turn, limit=16)
            )
    if spec.get("x_label"):
        body.append(
            _text(left + grid_w / 2, top + grid_h + bottom - 2, spec["x_label"], "middle", muted)
        )
    if spec.get("y_label"):
        cy = top + grid_h / 2
        body.append(
            _text(12, cy, spec["y_label"], "middle", f'{muted} transform="rotate(-90 12 {cy:.1f})"')
        )
    sx, steps = (
        left + grid_w + 18,
        8,
    )  # the colour scale, in discrete steps: no gradient ids to clash
    step_h = min(grid_h, 160) / steps
    for k in range(steps):
        body.append(_rect(sx, top + k * step_h, 12, step_h + 0.5, _heat(1 - k / (steps - 1))))
    body.append(_text(sx + 16, top + 9, _fmt(hi), extra=muted))
    body.append(_text(sx + 16, top + steps * step_h, _fmt(lo), extra=muted))
    width = sx + 24 + _CHAR_W * max(len(_fmt(hi)), len(_fmt(lo)))
    return _svg(width, top + grid_h + bottom + 4, "".join(body), title)


def _is_num(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _line_chart(spec: Mapping[str, Any], title: str) -> str:
    """``{"x", "series": [{"name", "values"}], "x_label"?, "y_label"?, "x_scale"?: "log"}``."""
    xs = list(spec["x"])
    series = [(str(s["name"]), [_num(v) for v in s["values"]]) for s in spec["series"]]
    if not xs or not series or any(len(v) != len(xs) for _, v in series):
        raise ValueError("every series needs one value per x")
    if len(xs) * len(series) > _MAX_POINTS:
        raise ValueError(f"{len(xs) * len(series)} points is too many to draw")
    numeric = all(_is_num(x) for x in xs)
    log = numeric and spec.get("x_scale") == "log" and all(x > 0 for x in xs)
    pos = (
        [math.log10(x) if log else float(x) for x in xs]
        if numeric
        else [float(i) for i in range(len(xs))]
    )
    ys = [v for _, vals in series for v in vals if v is not None]
    yt = _ticks(_bound(spec, "y_min", min([0.0, *ys])), _bound(spec, "y_max", max(ys, default=1.0)))
    x_lo, x_hi = min(pos), max(pos)
    x_lo, x_hi = (x_lo - 1, x_hi + 1) if x_hi == x_lo else (x_lo, x_hi)
    left, plot_w, plot_h, muted = 56.0, 440.0, 220.0, f'fill="{_MUTED}"'
    legend, top = _legend([n for n, _ in series], PALETTE * len(series), left, left + plot_w)
    top += 8

    def px(p: float) -> float:
        return left + (p - x_lo) / (x_hi - x_lo) * plot_w

    def py(v: float) -> float:
        return top + plot_h - (v - yt[0]) / (yt[-1] - yt[0]) * plot_h

    body = [legend]
    for t in yt:
        body.append(_line(left, py(t), left + plot_w, py(t)))
        body.append(_text(left - 6, py(t) + 4, _fmt(t), "end", muted))
    if log:
        xticks = [(float(e), f"1e{e}") for e in range(math.ceil(x_lo), math.floor(x_hi) + 1)]
    elif numeric:
        xticks = [(t, _fmt(t)) for t in _ticks(x_lo, x_hi) if x_lo - 1e-9 <= t <= x_hi + 1e-9]
    else:
        xticks = [(pos[i], str(xs[i])) for i in range(0, len(xs), max(1, math.ceil(len(xs) / 10)))]
    for p, label in xticks:
        body.append(_line(px(p), top + plot_h, px(p), top + plot_h + 4, _AXIS))
        body.append(_text(px(p), top + plot_h + 16, label, "middle", muted, limit=12))
    body.append(
        f'<path d="M{left:.1f} {top:.1f}V{top + plot_h:.1f}H{left + plot_w:.1f}" '
        f'fill="none" stroke="{_AXIS}"/>'
    )
    dots: list[str] = []
    for s, (name, vals) in enumerate(series):
        colour, path, pen = PALETTE[s % len(PALETTE)], [], "M"
        for x, p, v in zip(xs, pos, vals):
            if v is None:
                pen = "M"  # a gap breaks the line instead of inventing a value
                continue
            path.append(f"{pen}{px(p):.1f} {py(v):.1f}")
            pen = "L"
            tip = _e(f"{name}: {_fmt(v)} at {x}")
            dots.append(
                f'<circle cx="{px(p):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
        if path:
            body.append(
                f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
    body += dots  # markers over every line, so each point stays visible and hoverable
    if spec.get("x_label"):
        body.append(_text(left + plot_w / 2, top + plot_h + 34, spec["x_label"], "middle", muted))
    if spec.get("y_label"):
        cy = top + plot_h / 2
        body.append(
            _text(14, cy, spec["y_label"], "middle", f'{muted} transform="rotate(-90 14 {cy:.1f})"')
        )
    return _svg(left + plot_w + 20, top + plot_h + 44, "".join(body), title)


#: Plot type -> drawing function ``(spec, title) -> svg``; a new type is one entry here.
_MAX_PIXELS = 40_000


def _images(spec: Mapping[str, Any], title: str) -> str:
    """``{"images": [{"label", "pixels": rows of values}], "min", "max", "columns"}``: small
    grayscale pictures side by side (clean input, adversarial input, the perturbation), drawn
    pixel by pixel from the numbers so the picture is the data. A picture may set its own
    ``min``/``max`` (a perturbation is centred on 0)."""
    pics = list(spec["images"])
    if not pics:
        raise ValueError("no images")
    grids = [[[_num(v) for v in row] for row in p["pixels"]] for p in pics]
    if sum(len(g) * len(g[0]) for g in grids if g) > _MAX_PIXELS:
        raise ValueError(f"more than {_MAX_PIXELS} pixels")
    if any(not g or any(len(r) != len(g[0]) for r in g) for g in grids):
        raise ValueError("every image needs rows of equal length")
    cols = max(1, int(spec.get("columns") or len(pics)))
    h = max(len(g) for g in grids)
    w = max(len(g[0]) for g in grids)
    px = float(max(2, min(12, 96 // max(h, w))))
    tile_w, tile_h = max(w * px, 72.0), h * px
    gap, label_h = 14.0, 30.0
    body = []
    for k, (pic, grid) in enumerate(zip(pics, grids)):
        x0 = (k % cols) * (tile_w + gap)
        y0 = (k // cols) * (tile_h + label_h + gap)
        lo = _bound(pic, "min", _bound(spec, "min", 0.0))
        hi = _bound(pic, "max", _bound(spec, "max", 1.0))
        for r, row in enumerate(grid):
            for c, v in enumerate(row):
                t = 0.5 if v is None else min(max((v - lo) / ((hi - lo) or 1.0), 0.0), 1.0)
                g = round(255 * t)
                body.append(_rect(x0 + c * px, y0 + r * px, px, px, f"#{g:02x}{g:02x}{g:02x}"))
        body.append(_text(x0, y0 + tile_h + 13, pic.get("label", ""), limit=int(tile_w // _CHAR_W)))
        if pic.get("caption"):
            body.append(_text(x0, y0 + tile_h + 26, pic["caption"], extra=f'fill="{_MUTED}"',
                              limit=int(tile_w // _CHAR_W)))
    rows = (len(pics) + cols - 1) // cols
    width = min(cols, len(pics)) * (tile_w + gap)
    return _svg(width, rows * (tile_h + label_h + gap), "".join(body), title)


PLOTS: dict[str, PlotFn] = {"bar": _bar, "heatmap": _heatmap, "images": _images, "line": _line_chart}
