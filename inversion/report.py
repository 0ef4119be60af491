"""Write the figures of docs/MODEL_REPORT.md from the evaluation JSON files:
``python -m inversion.report``.

``inversion/evaluate_defaults.sh`` writes ``docs/metrics/*.json``; this
rewrites the part of the report between ``<!-- figures:begin -->`` and
``<!-- figures:end -->`` with one table per style and data set (composite
against raw sketch), the recipe comparison, and the training cards, so every
figure in the report comes from a file a command wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from inversion import STYLES

COLUMNS = (
    ("ssim", "SSIM ↑"),
    ("fsim", "FSIM ↑"),
    ("psnr", "PSNR dB ↑"),
    ("pearson", "Pearson r ↑"),
    ("sharpness", "sharpness (photo = 1)"),
    ("identity_distance", "identity distance ↓"),
    ("rank1", "rank-1 ↑"),
    ("rank10", "rank-10 ↑"),
)
#: The grayscale model's hand-drawn stages and the variants tried beside
#: them, all measured on the held-out CUFS pairs
#: (``docs/metrics/grayscale-stage-<name>-cufs-val.json``).
HAND_DRAWN_STAGES = (
    ("2", "stage 2 (shipped first): identity 0.2, TV 0.1, 800 steps"),
    ("3-no-gan", "stage 2 + identity 1.0, TV 0.01, mirrored pairs, no GAN: 750 of 1500 steps, stopped"),
    ("3-gan-0.05", "the same + PatchGAN weight 0.05: 500 of 1500 steps, stopped"),
    ("3", "stage 3: the same + PatchGAN weight 0.01, 1500 steps"),
    ("4-three-quarters", "stage 3 + 1000 steps, three quarters of each batch hand-drawn"),
    ("4", "stage 4: stage 3 + 1000 steps, half hand-drawn"),
    ("5", "stage 5 (shipped before): stage 4 + 600 steps, SFace losses on all 16 images"),
    ("gpu1-a", "stage 6a (GPU): stage 5 + 9,529 steps of batch 32 (H200), half hand-drawn, rate 1e-4"),
    ("gpu1-b", "stage 6b (GPU): stage 5 + 9,958 steps of batch 32 (H200), a quarter hand-drawn, rate 2e-4"),
    ("gpu2-a", "stage 7a (GPU): stage 6a + 6,012 steps, identity 3.0"),
    ("gpu2-b", "stage 7b (GPU, shipped): stage 6b + 5,352 steps, identity 3.0, rate 1e-4"),
)
SETS = (
    ("celeba-test", "CelebA test_dataset, synthetic sketches"),
    ("cufs-val", "CUFS held-out pairs (hand-drawn)"),
)


def cell(value: float | None) -> str:
    """A figure; a dash where the measurement is newer than the figures (sharpness, before #16)."""
    return "\N{EN DASH}" if value is None else f"{value:.3f}"


def table(rows: list[tuple[str, dict]]) -> str:
    head = "| | " + " | ".join(label for _, label in COLUMNS) + " |"
    rule = "|---|" + "---:|" * len(COLUMNS)
    body = [
        "| " + name + " | " + " | ".join(cell(values.get(key)) for key, _ in COLUMNS) + " |" for name, values in rows
    ]
    return "\n".join([head, rule, *body])


def figures(metrics: Path, weights: Path) -> str:
    parts = []
    for style in STYLES:
        parts.append(f"### {style}\n")
        card_file = weights / f"{style}.json"
        if card_file.exists():
            card = json.loads(card_file.read_text())
            training = card["training"]
            parts.append(
                f"Weights `inversion/weights/{style}.pt`, SHA-256 `{card['weights_sha256'][:16]}…`; "
                f"{training['steps']} steps of batch {training['batch_size']} in this stage "
                f"({training['train_seconds'] / 60:.0f} min on {training['device']}, {training['precision']}); "
                f"feature network {training['feature_net']}; warm start: {training['init'] or 'none'}.\n"
            )
            if card.get("limitations"):
                parts.append("Known limitations (model card):\n")
                parts.append("\n".join(f"- {text}" for text in card["limitations"]) + "\n")
        for key, title in SETS:
            path = metrics / f"{style}-{key}.json"
            if not path.exists():
                continue
            report = json.loads(path.read_text())
            parts.append(
                f"**{title}** ({report['pairs']} pairs; sketches without a detected face: "
                f"{report['sketches_without_face']})\n"
            )
            parts.append(table([("composite", report["composite"]), ("raw sketch (baseline)", report["sketch"])]))
            if "rank1_by_group" in report:
                by_group = report["rank1_by_group"]
                parts.append("\n" + group_table([("composite", by_group, "composite"), baseline_row(by_group)]))
            parts.append(f"\n![{style} on {title}](images/{style}-{key}.png)\n")
    recipes = []
    for key, title in (("celeba-val", "CelebA validation_dataset, synthetic"), ("cufs-val", "CUFS held-out")):
        for recipe, label in (("a", "A: pixel + TV"), ("b", "B: pixel + TV + SFace feature + identity")):
            path = metrics / f"recipe-{recipe}-{key}.json"
            if path.exists():
                recipes.append((f"{title}, {label}", json.loads(path.read_text())["composite"]))
    if recipes:
        parts.append("### Recipe comparison (grayscale, 750 steps each, same data and seed)\n")
        parts.append(table(recipes) + "\n")
    stages = stage_reports(metrics, "cufs-val")
    if stages:
        parts.append("### Grayscale hand-drawn stages and variants (CUFS held-out pairs, composites)\n")
        parts.append(table([(label, report["composite"]) for label, report in stages]) + "\n")
        rows = [
            (label, report["rank1_by_group"], "composite") for label, report in stages if "rank1_by_group" in report
        ]
        if rows:
            parts.append(group_table([*rows, baseline_row(rows[0][1])]) + "\n")
    synthetic = stage_reports(metrics, "celeba-test")
    if synthetic:
        parts.append("The same stages on synthetic sketches (CelebA test_dataset), where measured:\n")
        parts.append(table([(label, report["composite"]) for label, report in synthetic]) + "\n")
    return "\n".join(parts)


def stage_reports(metrics: Path, key: str) -> list[tuple[str, dict]]:
    """(label, report) of each grayscale stage measured on data set ``key``."""
    found = ((label, metrics / f"grayscale-stage-{name}-{key}.json") for name, label in HAND_DRAWN_STAGES)
    return [(label, json.loads(path.read_text())) for label, path in found if path.exists()]


def baseline_row(by_group: dict[str, dict]) -> tuple[str, dict, str]:
    return ("raw sketch (baseline)", by_group, "sketch")


def group_table(rows: list[tuple[str, dict[str, dict], str]]) -> str:
    """Rank-1 per collection (file-name prefix): one row per (label,
    ``rank1_by_group`` of a report, which probe: composite or sketch)."""
    groups = sorted(rows[0][1])
    head = "| rank-1 by collection | " + " | ".join(f"{g} ({rows[0][1][g]['pairs']})" for g in groups) + " |"
    body = [
        f"| {label} | " + " | ".join(f"{by_group[g][key]:.3f}" for g in groups) + " |" for label, by_group, key in rows
    ]
    return "\n".join([head, "|---|" + "---:|" * len(groups), *body])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inversion.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, default=Path("docs/MODEL_REPORT.md"))
    parser.add_argument("--metrics", type=Path, default=Path("docs/metrics"))
    parser.add_argument("--weights", type=Path, default=Path(__file__).resolve().parent / "weights")
    args = parser.parse_args(argv)
    text = args.report.read_text()
    begin, end = "<!-- figures:begin -->", "<!-- figures:end -->"
    if begin not in text or end not in text:
        raise SystemExit(f"{args.report} has no {begin} … {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    args.report.write_text(f"{head}{begin}\n{figures(args.metrics, args.weights)}\n{end}{tail}")
    print(f"updated {args.report}")


if __name__ == "__main__":
    main()
