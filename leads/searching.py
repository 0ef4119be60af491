"""A gallery search, as a worker runs it: probes, the gallery's index in memory, fusion, the shortlist.

Each worker process keeps one ``inversion.leads.DescriptorIndex`` per
gallery, loaded on its first search (``index_for``, lazy and lock-guarded,
``reset_indexes`` for tests) and kept current: each search compares the
gallery's cheap signature (searchable count, highest id, removed count) with
the one the index was built at, and when it differs adds the photos the
index lacks and drops the ones no longer searchable.
"""

import hashlib
import logging
import threading

import numpy as np
from django.db import transaction
from django.utils import timezone

import audit
from cases.models import Composite

from .models import GalleryPhoto, LeadResult, LeadSearch

log = logging.getLogger(__name__)

#: The recognizer every descriptor comes from (``cases.candidates.recognizer``).
RECOGNIZER_NAME = "dlib_face_recognition_resnet_model_v1"

_lock = threading.Lock()
_indexes: dict[int, "GalleryIndex"] = {}
_weights_sha256: str | None = None


class GalleryIndex:
    """One gallery's descriptors in memory, with the signature it was last brought up to date at."""

    def __init__(self, gallery_id: int) -> None:
        from inversion.leads import DescriptorIndex

        self.gallery_id = gallery_id
        self.index = DescriptorIndex(dim=128)
        self.ids: set[int] = set()
        self.signature: tuple[int, int, int] | None = None
        self.lock = threading.Lock()

    def current(self) -> "GalleryIndex":
        """Bring the index up to date with the database, if the gallery changed since."""
        photos = GalleryPhoto.objects.filter(gallery_id=self.gallery_id)
        with self.lock:
            signature = photos.signature()
            if signature == self.signature:
                return self
            wanted = set(photos.searchable().values_list("pk", flat=True))
            gone, missing = self.ids - wanted, wanted - self.ids
            if gone:
                self.index.remove(sorted(gone))
            for start in range(0, len(missing), 2000):
                chunk = sorted(missing)[start : start + 2000]
                rows = photos.filter(pk__in=chunk).values_list("pk", "face_descriptor")
                ids, vectors = zip(*rows, strict=True) if rows else ((), ())
                if ids:
                    self.index.add(list(ids), np.asarray(vectors, np.float32))
            self.ids = (self.ids - gone) | missing
            self.signature = signature
            log.info("gallery %s index: %d photos (-%d +%d)", self.gallery_id, len(self.ids), len(gone), len(missing))
        return self


def index_for(gallery_id: int) -> GalleryIndex:
    """This process's index of ``gallery_id``, loaded on first use and brought up to date."""
    with _lock:
        index = _indexes.get(gallery_id)
        if index is None:
            index = _indexes[gallery_id] = GalleryIndex(gallery_id)
    return index.current()


def reset_indexes() -> None:
    """Forget every gallery's index (tests)."""
    with _lock:
        _indexes.clear()


def recognizer_weights_sha256() -> str:
    """The SHA-256 of dlib's face-recognition model file, hashed once per process."""
    global _weights_sha256
    with _lock:
        if _weights_sha256 is None:
            from inversion.align import model_file

            _weights_sha256 = hashlib.sha256(model_file(f"{RECOGNIZER_NAME}.dat").read_bytes()).hexdigest()
        return _weights_sha256


#: Why a composite of another style than the sketch's is left out (docs/LEADS.md: adding the other
#: styles' composites to the sketch and its own style's lowered how often the right person came first).
OTHER_STYLE = "made in another style than the sketch's; searches use composites of the sketch's own style"


def probes_of(search: LeadSearch) -> tuple[list[dict], list[dict], list[list[float]]]:
    """The sketch's and its finished composites' descriptors (those of the sketch's own style):
    (used, skipped with why, descriptors)."""
    sketch = search.sketch
    used, skipped, vectors = [], [], []
    probe = {"kind": "sketch", "type": "witnesssketch", "id": sketch.pk, "sha256": sketch.sha256}
    if sketch.face_descriptor:
        used.append(probe)
        vectors.append(sketch.face_descriptor)
    else:
        skipped.append(probe | {"why": "no face described in the sketch"})
    composites = Composite.objects.filter(sketch=sketch).order_by("pk")
    for composite in composites.only("pk", "style", "status", "output_sha256", "face_descriptor"):
        probe = {"kind": "composite", "type": "composite", "id": composite.pk, "sha256": composite.output_sha256}
        if composite.style != sketch.style:
            skipped.append(probe | {"why": OTHER_STYLE})
        elif composite.status != Composite.Status.DONE:
            skipped.append(probe | {"why": f"composite {composite.get_status_display().lower()}"})
        elif not composite.face_descriptor:
            skipped.append(probe | {"why": "no face descriptor yet"})
        else:
            used.append(probe)
            vectors.append(composite.face_descriptor)
    return used, skipped, vectors


def claim(search_id: int) -> LeadSearch | None:
    """Move a waiting search to running, once; None when it is not waiting (a job sent twice)."""
    with transaction.atomic():
        search = LeadSearch.objects.select_for_update().filter(pk=search_id).first()
        if search is None or search.status != LeadSearch.Status.WAITING:
            return None
        search.status, search.started_at = LeadSearch.Status.RUNNING, timezone.now()
        search.save(update_fields=["status", "started_at"])
    return LeadSearch.objects.select_related("sketch", "gallery", "case", "requested_by").get(pk=search_id)


def run(search_id: int) -> None:
    """Run search ``search_id``: its shortlist stored with its scores, or a failure that says why."""
    from inversion.leads import FUSION

    search = claim(search_id)
    if search is None:
        return
    used, skipped, vectors = probes_of(search)
    if not used:
        fail(search, "Neither the sketch nor any finished composite has a face descriptor, so nothing can be searched.")
        return
    index = index_for(search.gallery_id)
    kinds = [probe["kind"] for probe in used]
    ranked = index.index.search(np.asarray(vectors, np.float32), kinds, search.shortlist_size)
    sha256s = dict(GalleryPhoto.objects.filter(pk__in=[pk for pk, _, _ in ranked]).values_list("pk", "sha256"))
    with transaction.atomic():
        LeadResult.objects.bulk_create(
            LeadResult(
                search=search,
                photo_id=pk,
                rank=rank,
                fused_distance=fused,
                distances=[round(value, 6) for value in distances],
                photo_sha256=sha256s[pk],
            )
            for rank, (pk, fused, distances) in enumerate(ranked, start=1)
        )
        search.status, search.finished_at = LeadSearch.Status.DONE, timezone.now()
        search.probes, search.skipped_probes, search.gallery_size = used, skipped, len(index.ids)
        search.recognizer = {"name": RECOGNIZER_NAME, "weights_sha256": recognizer_weights_sha256()}
        search.fusion = dict(FUSION)
        search.save(
            update_fields=[
                "status",
                "finished_at",
                "probes",
                "skipped_probes",
                "gallery_size",
                "recognizer",
                "fusion",
            ]
        )
        audit.record(
            audit.Action.LEAD_SEARCH_DONE,
            obj=search,
            case=search.case,
            details={
                "gallery": search.gallery_id,
                "gallery_size": search.gallery_size,
                "probes": used,
                "results": len(ranked),
                "fusion": search.fusion,
                "recognizer": search.recognizer,
            },
        )


def fail(search: LeadSearch, message: str) -> None:
    with transaction.atomic():
        search.status, search.finished_at, search.error_message = LeadSearch.Status.FAILED, timezone.now(), message
        search.save(update_fields=["status", "finished_at", "error_message"])
        audit.record(
            audit.Action.LEAD_SEARCH_FAILED,
            obj=search,
            case=search.case,
            outcome=audit.Outcome.FAILED,
            details={"gallery": search.gallery_id, "message": message},
        )
