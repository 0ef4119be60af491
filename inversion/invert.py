"""Invert one sketch: ``python -m inversion.invert --style grayscale sketch.jpg composite.png``."""

from __future__ import annotations

import argparse
from pathlib import Path

from inversion import STYLES
from inversion.inference import invert_faces


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversion.invert", description=__doc__)
    parser.add_argument("--style", required=True, choices=STYLES)
    parser.add_argument("--weights", type=Path, help="checkpoint (default: the shipped model of the style)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    result = invert_faces([args.input], args.style, args.weights, args.device)[0]
    result.composite.save(args.output)
    where = "face found" if result.face.found else "no face found: centred crop used"
    print(f"wrote {args.output} ({result.composite.width}x{result.composite.height}, {where})")


if __name__ == "__main__":
    main()
