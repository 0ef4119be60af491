"""The shipped weights' model cards, read as plain JSON.

The web tier reads cards (a composite's limitations, which weights are
installed) without importing PyTorch; :mod:`inversion.inference` loads the
weights themselves, in workers.
"""

import json
import os
from pathlib import Path

#: The shipped weights; ``INVERSION_WEIGHTS_DIR`` points elsewhere (tests, a
#: deployment that mounts its own verified weights with their cards).
WEIGHTS_DIR = Path(os.environ.get("INVERSION_WEIGHTS_DIR") or Path(__file__).resolve().parent / "weights")


class WeightsError(RuntimeError):
    """The weights file is missing, unreadable or not the one its card names."""


def weights_path(style: str) -> Path:
    return WEIGHTS_DIR / f"{style}.pt"


def model_card(style: str) -> dict:
    card = WEIGHTS_DIR / f"{style}.json"
    if not card.is_file():
        raise WeightsError(f"no model card {card} for the {style} model")
    return json.loads(card.read_text())


def superseded_card_path(style: str, sha256: str, folder: Path | None = None) -> Path:
    """Where the card of weights once shipped for ``style`` is kept after new
    weights replaced them (``inversion.export`` moves it there)."""
    return (folder or WEIGHTS_DIR) / "superseded" / f"{style}-{sha256[:12]}.json"


def card_of_weights(style: str, sha256: str) -> dict | None:
    """The model card of the exact weights ``sha256`` of ``style``: the
    shipped card, or a superseded one kept for the composites those weights
    made (marked ``"superseded": True``); None when no card names them."""
    try:
        card = model_card(style)
    except WeightsError:
        card = {}
    if card.get("weights_sha256") == sha256:
        return card
    path = superseded_card_path(style, sha256)
    if path.is_file():
        card = json.loads(path.read_text())
        if card.get("weights_sha256") == sha256:
            return card | {"superseded": True}
    return None
