"""Leads: search a gallery of photos with a witness sketch and its composites.

Each probe (the sketch as drawn, each finished composite) has a dlib
descriptor; its distance to every gallery photo's descriptor says how alike
they are. ``fuse`` turns the probes' distances into one distance per photo,
and ``DescriptorIndex`` holds a worker's gallery in memory and returns the
photos nearest by that fused distance.

NumPy only at import time: the web tier imports this module. The index is
exact (every probe against every photo, one matrix product); docs/LEADS.md
gives its latency up to a million photos and how to grow past one machine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

KINDS = ("sketch", "composite")

#: Weight of the sketch against the composites' mean (see ``weighted_z``),
#: chosen on half of the held-out hand-drawn pairs (docs/LEADS.md).
SKETCH_WEIGHT = 0.75

#: The fusion every search records (docs/LEADS.md: how it was chosen).
FUSION = {
    "name": f"weighted-z-{SKETCH_WEIGHT:g}",
    "version": 2,  # 1: the same with the sketch weighted 0.5, before the choice on validation data
    "sketch_weight": SKETCH_WEIGHT,
    "description": (
        "each probe's distances z-normalised over the gallery (mean 0, s.d. 1), "
        f"then {SKETCH_WEIGHT:g} x the sketch's + {1 - SKETCH_WEIGHT:g} x the composites' mean; "
        "a kind that is missing leaves the other alone"
    ),
}


def _check(distances: np.ndarray, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    distances = np.asarray(distances, dtype=np.float64)
    if distances.ndim != 2 or distances.shape[0] < 1:
        raise ValueError(f"distances must be (n_probes >= 1, n_gallery), not {distances.shape}")
    kinds = np.asarray(list(kinds))
    if len(kinds) != distances.shape[0]:
        raise ValueError(f"{len(kinds)} kinds for {distances.shape[0]} probes")
    unknown = set(kinds.tolist()) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown probe kinds {sorted(unknown)}; expected {KINDS}")
    return distances, kinds


def z_normalise(distances: np.ndarray) -> np.ndarray:
    """Each row (probe) to mean 0 and standard deviation 1 over the gallery,
    so a probe whose distances are all large (a sketch) weighs as much as one
    whose distances are all small. A gallery of one photo stays at 0."""
    spread = distances.std(axis=1, keepdims=True)
    return (distances - distances.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, 1.0)


def ranks_of(distances: np.ndarray) -> np.ndarray:
    """Each photo's rank (1 = nearest) for each probe (row); ties share the order they come in."""
    order = np.argsort(distances, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, distances.shape[1] + 1)[None, :], axis=1)
    return ranks


def _by_kind(scores: np.ndarray, kinds: np.ndarray, sketch_weight: float) -> np.ndarray:
    """``sketch_weight`` x the sketches' mean + the rest x the composites' mean;
    one kind alone when the other is missing."""
    sketch, composite = kinds == "sketch", kinds == "composite"
    if not composite.any():
        return scores[sketch].mean(axis=0)
    if not sketch.any():
        return scores[composite].mean(axis=0)
    return sketch_weight * scores[sketch].mean(axis=0) + (1 - sketch_weight) * scores[composite].mean(axis=0)


def minimum(distances: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """The nearest any probe comes to each photo."""
    distances, _ = _check(distances, kinds)
    return distances.min(axis=0)


def mean(distances: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """Every probe's distance, averaged (the composites outvote the sketch)."""
    distances, _ = _check(distances, kinds)
    return distances.mean(axis=0)


def weighted(distances: np.ndarray, kinds: Sequence[str], sketch_weight: float = SKETCH_WEIGHT) -> np.ndarray:
    """Raw distances: ``sketch_weight`` x the sketch's + the rest x the composites' mean."""
    distances, kinds = _check(distances, kinds)
    return _by_kind(distances, kinds, sketch_weight)


def weighted_z(distances: np.ndarray, kinds: Sequence[str], sketch_weight: float = SKETCH_WEIGHT) -> np.ndarray:
    """Z-normalised distances (``z_normalise``), then as ``weighted``."""
    distances, kinds = _check(distances, kinds)
    return _by_kind(z_normalise(distances), kinds, sketch_weight)


def minimum_z(distances: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """The lowest z-normalised distance of any probe."""
    distances, _ = _check(distances, kinds)
    return z_normalise(distances).min(axis=0)


def mean_rank(distances: np.ndarray, kinds: Sequence[str], sketch_weight: float = SKETCH_WEIGHT) -> np.ndarray:
    """Each probe's ranking of the gallery, ranks weighted as in ``weighted``."""
    distances, kinds = _check(distances, kinds)
    return _by_kind(ranks_of(distances).astype(np.float64), kinds, sketch_weight)


def reciprocal_rank(distances: np.ndarray, kinds: Sequence[str], k: float = 60.0) -> np.ndarray:
    """Reciprocal rank fusion (Cormack et al., SIGIR 2009): minus the sum of
    1 / (k + rank) over probes, so lower is better like a distance."""
    distances, _ = _check(distances, kinds)
    return -(1.0 / (k + ranks_of(distances))).sum(axis=0)


Fusion = Callable[[np.ndarray, Sequence[str]], np.ndarray]


def mean_z(distances: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """Every probe's z-normalised distance, averaged."""
    distances, _ = _check(distances, kinds)
    return z_normalise(distances).mean(axis=0)


#: Sketch weights tried for the weighted fusions (0: composites alone, 1: the sketch alone).
WEIGHT_GRID = (0.0, 0.25, 0.33, 0.5, 0.67, 0.75, 1.0)

#: Every fusion tried (docs/LEADS.md gives each one's figures), by name.
CANDIDATES: dict[str, Fusion] = {
    "minimum": minimum,
    "mean": mean,
    "minimum-z": minimum_z,
    "mean-z": mean_z,
    **{f"weighted-{w:g}": partial(weighted, sketch_weight=w) for w in WEIGHT_GRID},
    **{f"weighted-z-{w:g}": partial(weighted_z, sketch_weight=w) for w in WEIGHT_GRID},
    **{f"mean-rank-{w:g}": partial(mean_rank, sketch_weight=w) for w in (0.33, 0.5, 0.67)},
    "reciprocal-rank": reciprocal_rank,
}


def fuse(distances: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """The probes' distances to each gallery photo fused into one (``FUSION``).

    ``distances``: (n_probes, n_gallery) dlib descriptor distances of each
    probe to each gallery photo; ``kinds[i]`` is "sketch" or "composite" for
    probe i. Returns (n_gallery,) fused distances, lower = more alike. Works
    with any number of probes >= 1 (a sketch alone, composites alone, several
    composites).
    """
    return weighted_z(distances, kinds, SKETCH_WEIGHT)


def _euclidean(probes: np.ndarray, vectors: np.ndarray, norms: np.ndarray) -> np.ndarray:
    """Distances (probes, vectors) as |p|^2 - 2 p.v + |v|^2: one matrix product."""
    squared = norms[None, :] - 2 * (probes @ vectors.T) + np.einsum("ij,ij->i", probes, probes)[:, None]
    return np.sqrt(np.maximum(squared, 0))


class DescriptorIndex:
    """Gallery descriptors (128-d float32, dlib) held in memory by a worker, keyed by photo id.

    Exact search: the probes against every descriptor in one matrix product
    (docs/LEADS.md: 100,000 photos in milliseconds on one core). New photos
    are appended in place to arrays with room to spare, so keeping the index
    current costs a copy only when the room runs out; replacing or removing
    photos copies the arrays. Safe while other threads search: a search works
    on the rows there were when it began, and nothing it reads is changed in place.
    """

    def __init__(self, dim: int = 128) -> None:
        self.dim = dim
        self._size = 0
        self._ids = np.empty(0, np.int64)
        self._vectors = np.empty((0, dim), np.float32)
        self._norms = np.empty(0, np.float32)  # squared lengths, for the distance expansion
        self._rows: dict[int, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._size

    def __contains__(self, photo_id: int) -> bool:
        return int(photo_id) in self._rows

    def _snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            size = self._size
            return self._ids[:size], self._vectors[:size], self._norms[:size]

    def _reserve(self, size: int) -> None:
        """Room for ``size`` rows (called with the lock held)."""
        if size <= len(self._ids):
            return
        room = max(size, 2 * len(self._ids), 1024)
        ids, vectors, norms = (
            np.empty(room, np.int64),
            np.empty((room, self.dim), np.float32),
            np.empty(room, np.float32),
        )
        ids[: self._size], vectors[: self._size], norms[: self._size] = self._snapshot_unlocked()
        self._ids, self._vectors, self._norms = ids, vectors, norms

    def _snapshot_unlocked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._ids[: self._size], self._vectors[: self._size], self._norms[: self._size]

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add photos; an id already held has its descriptor replaced."""
        ids = [int(i) for i in ids]
        vectors = np.asarray(vectors, np.float32).reshape(-1, self.dim)
        if len(ids) != len(vectors):
            raise ValueError(f"{len(ids)} ids for {len(vectors)} vectors")
        latest = dict(zip(ids, range(len(ids)), strict=True))  # the last of a repeated id wins
        norms = np.einsum("ij,ij->i", vectors, vectors)
        with self._lock:
            replaced = {photo_id: source for photo_id, source in latest.items() if photo_id in self._rows}
            if replaced:  # copy on write: a search under way keeps the rows it began with
                self._ids, self._vectors, self._norms = (a.copy() for a in (self._ids, self._vectors, self._norms))
                rows = [self._rows[photo_id] for photo_id in replaced]
                self._vectors[rows] = vectors[list(replaced.values())]
                self._norms[rows] = norms[list(replaced.values())]
            new = [(photo_id, source) for photo_id, source in latest.items() if photo_id not in replaced]
            if not new:
                return
            start, sources = self._size, [source for _, source in new]
            self._reserve(start + len(new))
            end = start + len(new)
            self._ids[start:end] = [photo_id for photo_id, _ in new]
            self._vectors[start:end] = vectors[sources]
            self._norms[start:end] = norms[sources]
            self._rows.update({photo_id: start + k for k, (photo_id, _) in enumerate(new)})
            self._size = end

    def remove(self, ids: Sequence[int]) -> None:
        """Forget photos; ids not held are ignored."""
        with self._lock:
            gone = [self._rows[int(i)] for i in ids if int(i) in self._rows]
            if not gone:
                return
            keep = np.ones(self._size, bool)
            keep[gone] = False
            self._ids, self._vectors, self._norms = (a[keep] for a in self._snapshot_unlocked())
            self._size = len(self._ids)
            self._rows = {int(photo_id): row for row, photo_id in enumerate(self._ids)}

    def distances(self, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids (n,), Euclidean distances (n_probes, n)) of every photo held."""
        probes = np.asarray(probes, np.float32).reshape(-1, self.dim)
        ids, vectors, norms = self._snapshot()
        return ids.copy(), _euclidean(probes, vectors, norms)

    def search(self, probes: np.ndarray, kinds: Sequence[str], k: int) -> list[tuple[int, float, list[float]]]:
        """Top k by fused distance: (photo id, fused distance, each probe's distance), best first.

        The distances shown are computed again exactly for the k photos (the
        search's expansion of the squared distance rounds in float32)."""
        probes = np.asarray(probes, np.float32).reshape(-1, self.dim)
        ids, vectors, norms = self._snapshot()
        if not len(ids) or k <= 0:
            return []
        fused = fuse(_euclidean(probes, vectors, norms), kinds)
        k = min(k, len(ids))
        top = np.argpartition(fused, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
        top = top[np.lexsort((ids[top], fused[top]))]  # nearest first; equal distances by id
        exact = np.linalg.norm(probes.astype(np.float64)[:, None, :] - vectors[top].astype(np.float64)[None], axis=2)
        return [(int(ids[j]), float(fused[j]), exact[:, n].tolist()) for n, j in enumerate(top)]
