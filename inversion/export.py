"""Ship a trained checkpoint as a default model:
``python -m inversion.export --checkpoint runs/grayscale.pt --style grayscale
--metrics docs/metrics/grayscale-cufs.json [...]``.

Writes ``inversion/weights/<style>.pt`` (the network's ``state_dict`` in half
precision plus the training metadata; no optimiser state) and its model card
``<style>.json``: data, sketch synthesis, resolution, steps, batch size,
losses, feature network, hardware, wall time, the evaluation figures given
with ``--metrics``, known limitations (``--limitation``), and the file's
SHA-256, which :mod:`inversion.inference` checks before loading. The card of
the weights replaced is kept in ``weights/superseded/`` for the composites
they made.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from inversion import STYLES
from inversion.cards import WEIGHTS_DIR, superseded_card_path
from inversion.checkpoints import half_precision, load_checkpoint, save_checkpoint, sha256_of
from inversion.model import IN_CHANNELS, SketchInversionNet, count_parameters
from inversion.sketches import SketchParams


def export(
    checkpoint: Path,
    style: str,
    metrics: dict[str, dict],
    out_dir: Path = WEIGHTS_DIR,
    lineage: list[dict] | None = None,
    hardware: str | None = None,
    limitations: list[str] | None = None,
) -> Path:
    state = load_checkpoint(checkpoint)
    metadata = state["metadata"]
    if metadata["style"] != style:
        raise SystemExit(f"{checkpoint} holds a {metadata['style']} model, not {style}")
    half = half_precision(state["model"])
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / f"{style}.pt"
    if _same_weights(weights, half, metadata):
        # Re-exporting to add metrics or limitations keeps the file (and its
        # SHA-256), and what the card already says of its history.
        earlier = _card(out_dir / f"{style}.json")
        lineage = lineage or earlier.get("lineage")
        hardware = hardware or earlier.get("hardware")
    else:
        keep_superseded_card(out_dir, style)
        save_checkpoint(weights, {"model": half, "step": metadata["steps"]}, metadata=metadata)
    net = SketchInversionNet(IN_CHANNELS[style])
    card = {
        "model": f"Convolutional Sketch Inversion, {style} sketches",
        "paper": "Güçlütürk, Güçlü, van Lier, van Gerven, Convolutional Sketch Inversion, arXiv 1606.03073 (2016)",
        "file": weights.name,
        "weights_sha256": sha256_of(weights),
        "storage": "float16 state_dict (computed in float32)",
        "parameters": count_parameters(net),
        "resolution": metadata["resolution"],
        "input": f"{IN_CHANNELS[style]}-channel {style} sketch aligned by inversion.align, values in [-1, 1]",
        "training": {
            k: metadata.get(k)
            for k in (
                "data",
                "train_photos",
                "train_identities",
                "hand_drawn",
                "hand_drawn_pairs",
                "steps",
                "batch_size",
                "feature_batch",
                "learning_rate",
                "loss_weights",
                "feature_net",
                "adversarial",
                "precision",
                "device",
                "train_seconds",
                "seed",
                "init",
            )
        },
        "hardware": hardware or metadata.get("device"),
        "lineage": lineage or [],
        "synthetic_sketches": {
            "method": "inversion.sketches.synthesize, one random hand per item (SketchParams.sample ranges)",
            "default_hand": SketchParams().as_dict(),
        },
        "validation_during_training": metadata.get("metrics", {}),
        "metrics": metrics,
        "limitations": limitations or [],
    }
    (out_dir / f"{style}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return weights


LINEAGE_KEYS = ("data", "steps", "batch_size", "feature_net", "hand_drawn", "train_seconds", "device", "init")


def lineage_of(path: Path) -> list[dict]:
    """The training stages behind a checkpoint (one stage) or a model card
    (its own lineage, then its last stage), oldest first."""
    if path.suffix == ".json":
        card = json.loads(path.read_text())
        return card["lineage"] + [{k: card["training"].get(k) for k in LINEAGE_KEYS}]
    metadata = load_checkpoint(path)["metadata"]
    return [{k: metadata.get(k) for k in LINEAGE_KEYS}]


def keep_superseded_card(out_dir: Path, style: str) -> None:
    """Before new weights replace the shipped ones, keep the old card (its
    figures and known limitations) for the composites the old weights made."""
    card = _card(out_dir / f"{style}.json")
    if card.get("weights_sha256"):
        kept = superseded_card_path(style, card["weights_sha256"], out_dir)
        kept.parent.mkdir(exist_ok=True)
        kept.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def _card(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _same_weights(path: Path, state: dict, metadata: dict) -> bool:
    if not path.is_file():
        return False
    existing = load_checkpoint(path)
    return (
        existing["metadata"] == metadata
        and existing["model"].keys() == state.keys()
        and all(torch.equal(existing["model"][k], v) for k, v in state.items())
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversion.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, type=Path)
    parser.add_argument("--style", required=True, choices=STYLES)
    parser.add_argument(
        "--metrics",
        nargs="*",
        type=Path,
        default=[],
        help="inversion.evaluate JSON files, recorded in the card under their file stem",
    )
    parser.add_argument(
        "--lineage",
        nargs="*",
        type=Path,
        default=[],
        help="earlier checkpoints (or model cards) this one was warm-started from, oldest first, for the card",
    )
    parser.add_argument("--hardware", help="what it was trained on, in words, for the card")
    parser.add_argument(
        "--limitation", action="append", default=[], help="a known limitation, in words, for the card (repeatable)"
    )
    args = parser.parse_args(argv)
    metrics = {path.stem: json.loads(path.read_text()) for path in args.metrics}
    lineage = [stage for path in args.lineage for stage in lineage_of(path)]
    weights = export(
        args.checkpoint, args.style, metrics, lineage=lineage, hardware=args.hardware, limitations=args.limitation
    )
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {weights.with_suffix('.json')}")


if __name__ == "__main__":
    main()
