"""Run by ``test_web_tier_imports.py`` in fresh interpreters, against a throwaway SQLite
database and a real Redis broker.

``python -m tests.web_tier_probe prepare``: migrate and store a case's evidence the way a
deployment would (uploads, then a worker's ``derive`` jobs and a finished composite); it may
import anything. ``python -m tests.web_tier_probe visit``: as the web tier, visit every page and
API endpoint a user reaches with that evidence, including an upload and a composite request,
then print which of PyTorch, dlib and OpenCV were imported (as JSON).
"""

import io
import json
import os
import sys

import django

HEAVY = ("torch", "dlib", "cv2")


def prepare() -> None:
    from django.core.management import call_command

    from accounts.roles import GlobalRole

    call_command("migrate", verbosity=0)
    from cases import morphs, services, tasks
    from cases.models import CaseMembership
    from tests.factories import CaseFactory, MembershipFactory, UserFactory
    from tests.web import face_png, finish

    artist = UserFactory(username="artist", groups=[GlobalRole.FORENSIC_ARTIST])
    investigator = UserFactory(username="investigator", groups=[GlobalRole.INVESTIGATOR])
    auditor = UserFactory(username="auditor", groups=[GlobalRole.AUDITOR])
    case = CaseFactory(reference="2026-CID-0001", created_by=artist)
    MembershipFactory(case=case, user=artist, role=CaseMembership.Role.CASE_LEAD)
    MembershipFactory(case=case, user=investigator, role=CaseMembership.Role.INVESTIGATOR)
    sketch = services.add_sketch(case, io.BytesIO(face_png(1)), user=artist, filename="sketch.png")
    photo = services.add_candidate_photo(case, io.BytesIO(face_png(3, 160)), user=investigator, label="Record 1")
    for item in (sketch, photo):
        tasks.derive.apply(args=(item._meta.model_name, item.pk))
    composite = finish(services.request_composite(sketch, "color", user=artist)[0])
    tasks.describe_composite.apply(args=(composite.pk,))
    others = [  # more composites of the face, from boxes a person drew: sources of morphs
        finish(services.request_composite(sketch, "color", user=artist, parameters={"box": [0, 0, 120 + i, 128]})[0])
        for i in range(2)
    ]
    morph, _ = morphs.request_morph(case, [composite.pk, others[0].pk], user=investigator)
    assert morph.status == "done", morph.error_message
    ids = {"case": case.pk, "sketch": sketch.pk, "photo": photo.pk, "composite": composite.pk, "morph": morph.pk}
    print(json.dumps(ids | {"unmorphed": others[1].pk}))
    assert auditor


def visit(ids: dict) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse
    from PIL import Image

    users = {user.username: user for user in get_user_model().objects.all()}
    case, sketch, photo, composite = ids["case"], ids["sketch"], ids["photo"], ids["composite"]
    morph = ids["morph"]
    pages = {
        "artist": [
            reverse("case_list"),
            reverse("case_detail", args=[case]),
            reverse("sketch_detail", args=[case, sketch]),
            reverse("sketch_image", args=[case, sketch]),
            reverse("sketch_image", args=[case, sketch]) + "?thumb=1",
            reverse("sketch_image", args=[case, sketch]) + "?download=1",
            reverse("sketch_crop", args=[case, sketch]),
            reverse("sketch_crop", args=[case, sketch]) + "?box=10,10,100,100",
            reverse("composites_status", args=[case, sketch]),
            reverse("composite_image", args=[case, composite]),
            reverse("compare", args=[case]) + f"?candidate={photo}",
            reverse("compare", args=[case]) + f"?candidate={photo}&morph={morph}",
            reverse("morph_detail", args=[case, morph]),
            reverse("morph_status", args=[case, morph]),
            reverse("morph_image", args=[case, morph]),
            reverse("candidate_image", args=[case, photo]),
            reverse("candidate_image", args=[case, photo]) + "?crop=1",
            reverse("case_export", args=[case]),
            reverse("api:case_list"),
            reverse("api:case_detail", args=[case]),
            reverse("api:sketch_list", args=[case]),
            reverse("api:sketch_detail", args=[case, sketch]),
            reverse("api:sketch_image", args=[case, sketch]),
            reverse("api:composite_list", args=[case]),
            reverse("api:composite_detail", args=[case, composite]),
            "/healthz",
        ],
        "investigator": [
            reverse("composite_release", args=[case, composite]),
            reverse("morph_release", args=[case, morph]),
        ],
        "auditor": [reverse("audit_list"), reverse("audit_chain"), reverse("api:audit_event_list")],
    }
    answers = {}
    client = Client()
    for username, urls in pages.items():
        client.force_login(users[username])
        for url in urls:
            answers[url] = client.get(url).status_code
            if os.environ.get("PROBE_TRACE"):
                print(url, [name for name in HEAVY if name in sys.modules], file=sys.stderr)
    client.force_login(users["artist"])
    compare = client.get(reverse("compare", args=[case]) + f"?candidate={photo}&morph={morph}").content.decode()
    answers["similarity shown"] = "Distance " in compare and f"morph {morph}: Distance " in compare
    upload = io.BytesIO()
    Image.linear_gradient("L").save(upload, format="PNG")  # tests.web's faces come with PyTorch
    upload.seek(0)
    upload.name = "another.png"
    answers["upload"] = client.post(reverse("sketch_upload", args=[case]), {"image": upload}).status_code
    box = {"box_left": 8, "box_top": 8, "box_right": 120, "box_bottom": 120, "box_adjusted": "True"}
    request_url = reverse("composites_request", args=[case, sketch])
    answers["request"] = client.post(request_url, {"styles": ["line"], **box}).status_code
    client.force_login(users["investigator"])
    chosen = {"composite": [composite, ids["unmorphed"]]}  # a new morph: its job goes to the broker
    response = client.post(reverse("morph_request", args=[case]), chosen)
    made = response.status_code == 302 and "/morphs/" in response.url  # a refusal goes back to compare
    answers["morph"] = response.status_code if made else 400
    print(json.dumps({"answers": answers, "imported": [name for name in HEAVY if name in sys.modules]}))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "forensics.settings")
    django.setup()
    if sys.argv[1] == "prepare":
        prepare()
    else:
        visit(json.loads(sys.argv[2]))
