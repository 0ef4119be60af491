"""Average the weights of fine-tunes that share a start (a "model soup"):
``python -m inversion.soup runs/a.step_000300.pt runs/b.step_000300.pt --out runs/soup.pt``.

Runs of one command with different seeds rank different people first (#16: rank-1 moved five of 67
pairs between two seeds while every other figure moved by 0.01); their average keeps what they agree
on (Wortsman et al., Model soups, 2022). Only the networks' weights are averaged, in float32; the
result is a checkpoint that ``inversion.evaluate`` and ``inversion.export`` read like any other,
its metadata the first run's with every run's seed and SHA-256 under ``soup_of``
(and without the first run's validation figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from inversion.checkpoints import load_checkpoint, save_checkpoint, sha256_of


def average(paths: list[Path]) -> tuple[dict, dict]:
    """The element-wise mean of the checkpoints' ``model`` weights, and the metadata that says so.

    Refuses checkpoints of another style, resolution or step, or with other tensors: an average only
    means something between fine-tunes of one network from one start."""
    if len(paths) < 2:
        raise SystemExit("averaging needs two checkpoints or more")
    states = [load_checkpoint(path) for path in paths]
    first = states[0]
    for path, state in zip(paths[1:], states[1:], strict=True):
        for key in ("style", "resolution", "init", "steps"):
            if state["metadata"].get(key) != first["metadata"].get(key):
                raise SystemExit(f"{path}: {key} {state['metadata'].get(key)!r}, not {first['metadata'].get(key)!r}")
        if state["model"].keys() != first["model"].keys():
            raise SystemExit(f"{path}: not the same network as {paths[0]}")
    model = {}
    for name, value in first["model"].items():
        if value.is_floating_point():
            model[name] = torch.stack([state["model"][name].float() for state in states]).mean(0)
        else:
            model[name] = value  # counters such as batch norm's: the same in every fine-tune
    metadata = {
        **first["metadata"],
        "seed": [state["metadata"].get("seed") for state in states],
        "train_seconds": sum(state["metadata"].get("train_seconds") or 0 for state in states),
        "soup_of": [{"file": path.name, "sha256": sha256_of(path)} for path in paths],
        "metrics": {},  # the runs' own validation figures are not the average's
    }
    return {"model": model, "step": first["metadata"]["steps"]}, metadata


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversion.soup", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    state, metadata = average(args.checkpoints)
    save_checkpoint(args.out, state, metadata)
    print(f"{args.out}: the mean of {len(args.checkpoints)} checkpoints")


if __name__ == "__main__":
    main()
