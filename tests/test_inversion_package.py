"""The ML package's shape: pure PyTorch, no import circles, its data CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from PIL import Image

from inversion import align, data
from inversion.data import AlignedPhotos
from inversion.sketches import synthesize

from .inversion_fixtures import generated_face

PACKAGE = Path(data.__file__).resolve().parent


def imported_modules(source: Path) -> set[str]:
    """Every module ``source`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "inversion":  # from inversion import align, STYLES
                names |= {f"inversion.{alias.name}" for alias in node.names}
    return names


def package_imports() -> dict[str, set[str]]:
    """Each module of the package and the package modules it imports."""
    modules = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        graph[name] = {m.removeprefix("inversion.") for m in imported_modules(path) if m.startswith("inversion.")}
        graph[name] &= modules.keys()
    return graph


def test_no_module_of_the_package_imports_the_web_app():
    for path in PACKAGE.glob("*.py"):
        web = {
            m
            for m in imported_modules(path)
            if m.split(".")[0] in ("django", "cases", "audit", "accounts", "forensics", "celery")
        }
        assert not web, f"{path.name} imports {web}"


def test_the_package_has_no_import_circles():
    graph = package_imports()
    assert "data" in graph["pack"] and "sketches" in graph["data"]  # the walk sees real imports

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            module == goal or (module not in seen and reaches(module, goal, seen | {module})) for module in graph[start]
        )

    circles = sorted(name for name in graph if reaches(name, name, set()))
    assert not circles, f"modules that import themselves through others: {circles}"


def test_the_data_command_writes_each_photo_with_its_seeded_sketch(tmp_path, monkeypatch):
    faces = np.stack([generated_face(seed, size=32) for seed in range(3)])
    photos = AlignedPhotos(faces, [f"p{i}/face{i}.jpg" for i in range(3)], [f"p{i}" for i in range(3)])
    asked = []
    monkeypatch.setattr(data, "load_aligned", lambda source, size: asked.append(size) or photos)
    data.main(["--style", "line", "--photos", "any.tar.gz", "--out", str(tmp_path), "--seed", "2"])
    data.main(
        ["--style", "line", "--photos", "any.tar.gz", "--out", str(tmp_path), "--seed", "2", "--resolution", "128"]
    )
    assert asked == [align.RESOLUTION, 128]  # the aligner's size by default, 128 px when asked
    for index in range(3):
        name = f"p{index}/face{index}.png"
        assert np.array_equal(np.asarray(Image.open(tmp_path / "photos" / name)), faces[index])
        sketch = np.asarray(Image.open(tmp_path / "sketches" / name))
        assert np.array_equal(sketch, synthesize(faces[index], "line", seed=2 * 1_000_003 + index))
