"""Checkpoint files: a ``state_dict`` plus a small metadata dict.

Written atomically (``<file>.part``, then rename) so a crash never leaves a
half-written checkpoint; read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

FORMAT_VERSION = 1


def save_checkpoint(path: Path, state: dict, metadata: dict) -> None:
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    torch.save({"format_version": FORMAT_VERSION, **state, "metadata": metadata}, partial)
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    partial.replace(path)


def half_precision(state_dict: dict) -> dict:
    """A ``state_dict`` as the weights are shipped: floating-point tensors in float16."""
    return {name: value.half() if value.is_floating_point() else value for name, value in state_dict.items()}


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    state = torch.load(path, map_location=map_location, weights_only=True)
    if state.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint format {state.get('format_version')!r}")
    return state


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
