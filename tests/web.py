"""Evidence for the page, API and browser tests: sketches stored through the
domain operations, and composites finished as a worker would finish them."""

import hashlib
import io

from django.utils import timezone
from PIL import Image

from cases import composite_png, custody, services
from cases.models import Composite, WitnessSketch

from .inversion_fixtures import generated_face


def face_png(seed: int = 1, size: int = 128) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(generated_face(seed, size)).save(buffer, format="PNG")
    return buffer.getvalue()


def add_sketch(case, user, *, seed: int = 1, style: str = "color", **kwargs) -> WitnessSketch:
    return services.add_sketch(
        case, io.BytesIO(face_png(seed)), user=user, style=style, filename=f"sketch-{seed}.png", **kwargs
    )


def finish(composite: Composite, seed: int = 7, *, face_found: bool = True) -> Composite:
    """Store a labelled composite PNG and mark the composite done, as the pipeline does
    (recording whether the aligner found the face, as ``parameters["pipeline"]["face"]``)."""
    data = composite_png.render(
        Image.fromarray(generated_face(seed, 32)), label="GENERATED COMPOSITE", size=96, text={"style": composite.style}
    )
    digest = hashlib.sha256(data).hexdigest()
    name = f"composites/{digest}.png"
    custody.store(name, data)
    now = timezone.now()
    row = Composite.objects.get(pk=composite.pk)
    fields = {
        "status": Composite.Status.DONE,
        "image": name,
        "output_sha256": digest,
        "parameters": row.parameters | {"pipeline": {"face": {"found": face_found}}},
        "model_name": f"csi-{composite.style}-test",
        "weights_sha256": "0" * 64,
        "device": "cpu",
        "started_at": now,
        "finished_at": now,
        "duration_ms": 12,
    }
    for field, value in fields.items():
        setattr(row, field, value)
    row.save(update_fields=list(fields))  # saved as the pipeline saves it (its signals tell the case page)
    composite.refresh_from_db()
    return composite


def done_composite(sketch: WitnessSketch, user, style: str = "color") -> Composite:
    """A finished composite of ``sketch``; where the aligner found no face, the artist confirmed the whole image."""
    parameters = None if sketch.face_found else {"box": [0, 0, sketch.width, sketch.height]}
    return finish(services.request_composite(sketch, style, user=user, parameters=parameters)[0])
