"""The stylesheet's colours meet WCAG 2.2 contrast: 4.5:1 for badge text, 3:1 for the
focus ring and the edges of form controls (success criteria 1.4.3, 1.4.11, 2.4.13)."""

import re
from pathlib import Path

import pytest

CSS = (Path(__file__).resolve().parent.parent / "static" / "css" / "app.css").read_text()
VARIABLES = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", CSS))
WHITE, PAPER = "#ffffff", VARIABLES["paper"]


def colour(value: str) -> str:
    value = value.strip()
    match = re.fullmatch(r"var\(--([\w-]+)\)", value)
    return VARIABLES[match.group(1)] if match else value


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((luminance(colour(one)), luminance(colour(other))), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def rules(selector_pattern: str) -> list[tuple[str, str]]:
    return [
        (selector, body)
        for selector, body in re.findall(r"([^{}]+)\{([^}]*)\}", CSS)
        if re.search(selector_pattern, selector)
    ]


def declaration(body: str, name: str) -> str:
    return re.search(rf"(?:^|;|\s){name}:\s*([^;]+)", body).group(1)


def test_the_contrast_formula_matches_known_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("background", [WHITE, PAPER])
def test_the_focus_ring_stands_out_at_3_to_1(background):
    (_, body), *_ = rules(r":focus-visible")
    ring = declaration(body, "outline").split()[-1]
    assert contrast(ring, background) >= 3


def test_every_badge_is_readable_at_4_5_to_1():
    badges = rules(r"\.(status|outcome|role)-[\w-]+")
    assert len(badges) >= 5
    for selector, body in badges:
        ratio = contrast(declaration(body, "color"), declaration(body, "background"))
        assert ratio >= 4.5, f"{selector.strip()}: {ratio:.2f}:1"


def test_form_controls_have_visible_edges():
    for selector, body in rules(r"^\s*input|\.dropzone\s*$"):
        edge = declaration(body, "border").split()[-1]
        assert contrast(edge, WHITE) >= 3, selector.strip()
