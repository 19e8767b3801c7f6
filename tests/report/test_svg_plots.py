"""svg.py draws every plot spec the checks emit, escapes every label, and never raises."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from pipeshield.report.svg import PLOTS, hbars, render_plot

XSS = "<script>alert(1)</script>"
SVG = "{http://www.w3.org/2000/svg}"

SPECS = {
    "bar": {"type": "bar", "x": ["cat", XSS, "a|b"], "values": [0.9, 0.2, None], "max": 1.0},
    "grouped": {
        "type": "bar",
        "x": ["a", "b"],
        "series": [{"name": XSS, "values": [1, 2]}, {"name": "y", "values": [3, 4]}],
    },
    "stacked": {
        "type": "bar",
        "x": ["a", "b"],
        "stacked": True,
        "series": [{"name": "p", "values": [1, 2]}, {"name": "q", "values": [3, 0]}],
    },
    "heatmap": {
        "type": "heatmap",
        "x": ["a", XSS],
        "y": ["a", XSS],
        "values": [[5, 1], [0, None]],
        "x_label": "predicted",
    },
    "line": {
        "type": "line",
        "x": [0, 0.01, 0.02, 0.03],
        "series": [
            {"name": XSS, "values": [1.0, 0.7, None, 0.2]},
            {"name": "b", "values": [1.0, 0.9, 0.8, 0.7]},
        ],
        "x_label": "epsilon",
        "y_label": "accuracy",
    },
    "line_categorical_log": {
        "type": "line",
        "x": ["s", "m", "l"],
        "x_scale": "log",
        "series": [{"name": "a", "values": [1, 2, 3]}],
    },
    "images": {
        "type": "images",
        "columns": 3,
        "images": [
            {"label": XSS, "pixels": [[0.0, 1.0], [0.5, None]]},
            {"label": "adversarial", "caption": "pred 8", "pixels": [[0.1, 0.9], [0.4, 0.6]]},
            {"label": "perturbation", "pixels": [[0.1, -0.1], [-0.1, 0.1]], "min": -0.1, "max": 0.1},
        ],
    },
    "line_log": {
        "type": "line",
        "x": [10, 100, 1000, 10000],
        "x_scale": "log",
        "series": [{"name": "fidelity", "values": [0.2, 0.5, 0.8, 0.9]}],
    },
}


def _svg(markup: str) -> ET.Element:
    root = ET.fromstring(markup)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG}text")]


def test_every_type_is_registered() -> None:
    assert {"bar", "heatmap", "images", "line"} <= set(PLOTS)


def test_images_draw_each_pixel_in_gray_from_the_numbers() -> None:
    root = _svg(render_plot(SPECS["images"], "samples"))
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect")]
    assert len(fills) == 12  # three 2 x 2 pictures
    assert fills[:4] == ["#000000", "#ffffff", "#808080", "#808080"]  # a gap is mid-gray
    assert fills[8:] == ["#ffffff", "#000000", "#000000", "#ffffff"]  # its own [-0.1, 0.1] scale
    assert "pred 8" in _texts(root)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_draws_well_formed_svg_with_escaped_labels(name: str) -> None:
    markup = render_plot(SPECS[name], title=f"title {XSS}")
    assert "<script" not in markup
    root = _svg(markup)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == f"title {XSS}"  # escaped in markup, intact as text
    assert root.get("viewBox")


def test_labels_survive_as_text() -> None:
    root = _svg(render_plot(SPECS["bar"], "recall"))
    texts = _texts(root)
    assert "cat" in texts and "a|b" in texts
    assert any(XSS[:10] in t for t in texts)
    assert "n/a" in texts  # a missing value is shown as missing, not as zero


def test_heatmap_writes_cell_values_and_a_colour_scale() -> None:
    spec = {"type": "heatmap", "x": ["a", "b"], "y": ["a", "b"], "values": [[50, 2], [3, 40]]}
    root = _svg(render_plot(spec, "confusion"))
    texts = _texts(root)
    for value in ("50", "2", "3", "40"):
        assert value in texts
    fills = {r.get("fill") for r in root.iter(f"{SVG}rect")}
    assert len(fills) >= 8  # cells of different shades plus the scale's steps


def test_line_breaks_at_gaps_instead_of_inventing_values() -> None:
    root = _svg(render_plot(SPECS["line"], "acc"))
    paths = [p.get("d", "") for p in root.iter(f"{SVG}path") if p.get("stroke") != "#9ca3af"]
    gappy = paths[0]
    assert gappy.count("M") == 2  # two runs: before and after the missing point
    assert len(list(root.iter(f"{SVG}circle"))) == 7  # 3 + 4 measured points


def test_log_scale_labels_powers_of_ten() -> None:
    texts = _texts(_svg(render_plot(SPECS["line_log"], "extraction")))
    assert {"1e1", "1e2", "1e3", "1e4"} <= set(texts)


def test_count_axes_use_whole_ticks() -> None:
    texts = _texts(_svg(hbars(["a", "b"], [("n", [1, 2])], title="counts")))
    assert "0.5" not in texts and "1.5" not in texts


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "radar", "x": [XSS], "values": [1]},
        {"type": "heatmap", "x": ["a", "b"], "y": ["a"], "values": [[1]]},  # ragged
        {"type": "bar", "x": ["a"], "values": ["lots"]},  # not a number
        {"type": "bar", "x": ["a"], "values": [True]},
        {"type": "line", "x": [1, 2], "series": [{"name": "a", "values": [1]}]},
        {"type": "line", "x": [1], "series": "nope"},
        {"type": "bar"},
        {
            "type": "heatmap",
            "x": list(range(200)),
            "y": list(range(200)),
            "values": [[0] * 200] * 200,
        },
        {"x": [1, 2]},
        {"type": "images", "images": [{"pixels": [[1, 2], [3]]}]},
        {"type": "images", "images": [{"pixels": [[0] * 300] * 300}]},
    ],
)
def test_what_cannot_be_drawn_becomes_a_table(spec: dict[str, object]) -> None:
    out = render_plot(spec, title=XSS)
    assert out.startswith('<table class="plot-fallback">')
    assert "<script" not in out
    ET.fromstring(out)  # still well-formed markup


def test_non_object_spec_and_non_finite_values_do_not_raise() -> None:
    assert render_plot([1, 2, 3]).startswith("<table")
    assert render_plot(None).startswith("<table")
    root = _svg(render_plot({"type": "bar", "x": ["a", "b"], "values": [math.nan, math.inf]}, "t"))
    assert _texts(root).count("n/a") == 2
