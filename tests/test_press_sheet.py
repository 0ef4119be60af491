"""The press sheet of a released composite: a PDF and a printable page holding the
image, the case reference, the public description, the contact, the date and the
caveat, and nothing of the witness, the case's notes or the people who worked on it.

The PDF is read back by a small parser (every stream inflated, every string
listed), so the tests see every text the file holds, shown on the page or not.
"""

import base64
import hashlib
import io
import re
import zlib

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from PIL import Image

from accounts.roles import GlobalRole
from audit.models import AuditEvent
from cases import composite_png, press, services
from cases.models import Case, CaseMembership, Composite
from cases.provenance import WITNESS_FIELDS

from .factories import MembershipFactory, UserFactory
from .web import add_sketch, done_composite

Action = AuditEvent.Action

DESCRIPTION = (
    "A man snatched a handbag in Market Square at about 21:40 on Friday 6 March.\n"
    "He ran towards the bus station.\n"
    "\n"
    "He is described as in his thirties, of slim build, with short dark hair."
)


# The PDF, read back.


def pdf_streams(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every stream of the PDF: its object's dictionary and its content, decoded (ASCII85, Flate)."""
    streams = []
    for body in re.findall(rb"\d+ 0 obj(.*?)endobj", data, re.S):
        found = re.fullmatch(rb"(.*?)stream\r?\n(.*)endstream\s*", body, re.S)
        if found is None:
            continue
        dictionary, content = found.groups()
        for name in re.findall(rb"/(ASCII85Decode|FlateDecode)", dictionary):
            if name == b"ASCII85Decode":
                content = base64.a85decode(content.strip().removesuffix(b"~>"))
            else:
                content = zlib.decompress(content)
        streams.append((dictionary, content))
    return streams


def pdf_strings(source: bytes) -> list[str]:
    """The literal strings of a piece of PDF, unescaped, as the typeface's encoding (cp1252) reads them."""
    escapes = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

    def unescape(match: re.Match) -> bytes:
        code = match.group(1)
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        return escapes.get(code, code)

    return [
        re.sub(rb"\\([0-7]{1,3}|.)", unescape, literal[1:-1], flags=re.S).decode("cp1252")
        for literal in re.findall(rb"\((?:\\.|[^\\)])*\)", source, re.S)
    ]


def pdf_texts(data: bytes) -> list[str]:
    """Every text in the PDF: the strings its pages show, then those of its document information."""
    shown = []
    for dictionary, content in pdf_streams(data):
        if b"/Image" not in dictionary:
            shown += pdf_strings(content)
    outside_streams = re.sub(rb"stream\r?\n.*?endstream", b"", data, flags=re.S)
    return shown + pdf_strings(outside_streams)


def inflated(data: bytes) -> bytes:
    """The PDF with every stream inflated: where a text would be if the parser missed it."""
    return data + b"".join(content for _, content in pdf_streams(data))


def words(texts: list[str]) -> str:
    return " ".join(" ".join(texts).split())


# The world: a case whose sketch carries witness data and whose released composite
# was made by people with distinctive names.


@pytest.fixture
def quill(case):
    """The forensic artist who drew the sketch."""
    user = UserFactory(username="quill.feathersby", groups=[GlobalRole.FORENSIC_ARTIST])
    MembershipFactory(case=case, user=user, role=CaseMembership.Role.FORENSIC_ARTIST)
    return user


@pytest.fixture
def bright(case):
    """The investigator who released the composite and makes the press sheet."""
    user = UserFactory(username="bright.waterhouse", groups=[GlobalRole.INVESTIGATOR])
    MembershipFactory(case=case, user=user, role=CaseMembership.Role.INVESTIGATOR)
    return user


@pytest.fixture
def released(case, quill, bright) -> Composite:
    Case.objects.filter(pk=case.pk).update(
        title="Robbery of Agatha Pemberton", description="Internal: the victim's neighbour is known to CID."
    )
    sketch = add_sketch(
        case,
        quill,
        witness_reference="W-07 Mrs Hollyhock",
        interview_notes="Anchor tattoo on the left wrist; the witness is afraid of reprisals.",
    )
    composite = done_composite(sketch, quill)
    return services.release_composite(composite, user=bright, reason="Approved by DI Marchbanks after interview 3")


def secrets_of(composite: Composite) -> dict[str, str]:
    """Everything about the composite that must not reach the press."""
    sketch, case = composite.sketch, composite.sketch.case
    values = {f"sketch.{name}": getattr(sketch, name) for name in WITNESS_FIELDS}
    values |= {
        "case.title": case.title,
        "case.description": case.description,
        "release_reason": composite.release_reason,
        "uploaded_by": sketch.uploaded_by.get_username(),
        "requested_by": composite.requested_by.get_username(),
        "released_by": composite.released_by.get_username(),
        "sketch.sha256": sketch.sha256,
        "sketch file": sketch.original.name,
    }
    assert all(values.values()), values  # each is there to be leaked
    return values


def make_pdf(client, composite: Composite, description: str = DESCRIPTION):
    url = reverse("press_sheet", args=[composite.sketch.case_id, composite.pk])
    return client.post(url, {"description": description, "kind": "pdf"})


# The PDF.


def test_the_pdf_holds_the_reference_the_caveat_the_description_the_contact_and_the_date(
    client, released, bright, settings
):
    settings.PRESS_CONTACT = "Call the incident room on 0161 496 0000.\nOr Crimestoppers, anonymously."
    client.force_login(bright)

    response = make_pdf(client, released)

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="2026-CID-0042-press-sheet-{released.pk}.pdf"'
    assert response.content.startswith(b"%PDF-")
    text = words(pdf_texts(response.content))
    assert "Case reference 2026-CID-0042" in text
    assert press.CAVEAT in text and "not a photograph" in text
    for paragraph in DESCRIPTION.split("\n"):
        assert paragraph in text
    assert "Call the incident room on 0161 496 0000. Or Crimestoppers, anonymously." in text
    today = timezone.localdate()
    assert f"Issued {today.day} {today:%B %Y}" in text
    assert released.output_sha256 in text


def test_the_pdf_holds_no_witness_data_no_case_notes_and_no_names(client, released, bright):
    client.force_login(bright)

    pdf = make_pdf(client, released).content

    texts = pdf_texts(pdf)
    everything = inflated(pdf)
    for field, value in secrets_of(released).items():
        assert not any(value in text for text in texts), field
        assert value not in words(texts), field
        assert value.encode() not in everything, field


def test_every_text_on_the_pdf_is_one_of_the_sheets_public_fields(client, released, bright, settings):
    client.force_login(bright)
    pdf = make_pdf(client, released).content
    sheet = press.sheet_for(released, DESCRIPTION, default_storage.open(released.image.name).read())
    public = words(
        [
            "Appeal for information",
            f"Case reference {sheet.reference} · Issued {sheet.issued_display}",
            sheet.caveat,
            sheet.description,
            "If you have information",
            sheet.contact,
            f"Quote the case reference {sheet.reference}.",
            f"Image SHA-256 {sheet.image_sha256}. Issued {sheet.issued_display}.",
        ]
    )
    streams = [content for dictionary, content in pdf_streams(pdf) if b"/Image" not in dictionary]
    shown = [text for content in streams for text in pdf_strings(content)]

    assert shown, "no text found: the parser does not read this PDF"
    assert [text for text in shown if " ".join(text.split()) not in public] == []


def test_the_pdfs_document_information_names_no_one(client, released, bright):
    client.force_login(bright)
    pdf = make_pdf(client, released).content

    info = dict(re.findall(rb"/(Author|Creator|Keywords|Producer|Subject|Title) \((.*?)\)", pdf))

    assert info[b"Title"] == b"Public appeal, case 2026-CID-0042"
    assert info[b"Author"] == b""
    assert info[b"Subject"] == b"Generated likeness: not a photograph"


def test_the_image_is_the_released_pixels_without_the_stored_files_text_chunks(released):
    stored = default_storage.open(released.image.name).read()
    assert composite_png.read_text(stored)  # the stored file carries its provenance

    public = press.public_image(stored)

    assert composite_png.read_text(public) == {}
    assert Image.open(io.BytesIO(public)).tobytes() == Image.open(io.BytesIO(stored)).convert("RGB").tobytes()


# The printable page.


def test_the_printable_page_shows_the_sheet_and_nothing_of_the_witness(client, released, bright):
    client.force_login(bright)
    url = reverse("press_sheet", args=[released.sketch.case_id, released.pk])

    response = client.post(url, {"description": "Seen near the\r\nbus station.", "kind": "html"})

    assert response.status_code == 200
    page = response.content.decode()
    sheet = page[page.index('<article class="press-sheet"') : page.index("</article>")]
    assert "2026-CID-0042" in sheet and escape(press.CAVEAT) in sheet
    assert "Seen near the<br>bus station." in sheet
    assert 'src="data:image/png;base64,' in sheet
    assert re.search(r'<link rel="stylesheet" href="[^"]*css/press\.css', page)  # the print stylesheet
    for field, value in secrets_of(released).items():
        assert escape(value) not in sheet and value not in sheet, field


def test_the_print_stylesheet_prints_the_sheet_alone(settings):
    css = (settings.BASE_DIR / "static" / "css" / "press.css").read_text()
    rules = css[css.index("@media print") :]
    assert ".bar" in rules and ".press-screen-only" in rules and "display: none" in rules


# Who, when, and the record.


def test_making_a_press_sheet_is_audited_with_the_description_as_printed(client, released, bright, audit_log):
    client.force_login(bright)
    audit_log.mark()

    response = make_pdf(client, released, description="  Slim, dark hair.\r\n\r\nSeen at 21:40.  ")

    (event,) = [event for event in audit_log.new() if event.action == Action.PRESS_SHEET_MADE]
    assert (event.user, event.case, event.object_id) == (bright, released.sketch.case, str(released.pk))
    assert event.details["description"] == "Slim, dark hair.\n\nSeen at 21:40."
    assert event.details["format"] == "pdf"
    assert event.details["composite_sha256"] == released.output_sha256
    assert event.details["pdf_sha256"] == hashlib.sha256(response.content).hexdigest()


@pytest.mark.parametrize(
    ("description", "says"),
    [
        ("", "Write the description"),
        ("   \r\n  ", "Write the description"),
        ("Tall\tthin", "no tabs or other control characters"),
        ("Tall\x1b[31m thin", "no tabs or other control characters"),
        ("Tall\x85thin", "no tabs or other control characters"),
        ("Tall \u202e nihT", "cannot print"),
        ("Wore a jacket with 中文 on it", "cannot print 中 文"),
        ("x" * (press.DESCRIPTION_MAX_LENGTH + 1), "Keep the description to 2000 characters"),
    ],
)
def test_a_description_the_sheet_cannot_hold_is_refused_saying_why(
    client, released, bright, audit_log, description, says
):
    client.force_login(bright)
    audit_log.mark()

    response = make_pdf(client, released, description=description)

    assert response.status_code == 400
    assert says in response.content.decode()
    assert [event.action for event in audit_log.new()] == []


def test_line_breaks_and_western_european_text_are_kept():
    text = "Café «Zur Post»,\r\nMüller\u2019s — 21:40 €"
    assert press.clean_description(text) == "Café «Zur Post»,\nMüller\u2019s — 21:40 €"


def test_a_composite_not_released_has_no_press_sheet(client, case, quill, bright):
    composite = done_composite(add_sketch(case, quill), quill)
    client.force_login(bright)

    response = client.get(reverse("press_sheet", args=[case.pk, composite.pk]))

    assert response.status_code == 403


def test_only_those_who_may_release_make_press_sheets_and_only_on_an_open_case(client, released, quill, bright, lead):
    url = reverse("press_sheet", args=[released.sketch.case_id, released.pk])
    client.force_login(quill)
    assert client.get(url).status_code == 403  # artists view the case, but do not speak for it
    client.force_login(lead)
    assert client.get(url).status_code == 200
    services.set_case_status(released.sketch.case, Case.Status.CLOSED, user=lead)
    assert client.get(url).status_code == 403
    client.force_login(bright)
    assert make_pdf(client, released).status_code == 403


def test_an_altered_composite_file_makes_no_press_sheet(client, released, bright, audit_log):
    with open(default_storage.path(released.image.name), "r+b") as file:
        file.seek(100)
        file.write(b"\x00\x01\x02")
    client.force_login(bright)
    audit_log.mark()

    response = make_pdf(client, released)

    assert response.status_code == 409
    assert [event.action for event in audit_log.new()] == [Action.INTEGRITY_FAILED]


def test_the_composite_card_links_to_the_press_sheet_for_those_who_may_make_one(client, released, quill, bright):
    url = reverse("sketch_detail", args=[released.sketch.case_id, released.sketch_id])
    link = reverse("press_sheet", args=[released.sketch.case_id, released.pk])
    client.force_login(bright)
    assert link in client.get(url).content.decode()
    client.force_login(quill)
    assert link not in client.get(url).content.decode()


def test_the_form_page_shows_what_the_sheet_will_hold_and_records_the_view(client, released, bright, audit_log):
    client.force_login(bright)
    audit_log.mark()

    response = client.get(reverse("press_sheet", args=[released.sketch.case_id, released.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Public description" in page and escape(press.CAVEAT) in page and "Case reference 2026-CID-0042" in page
    (event,) = audit_log.new()
    assert event.action == Action.EVIDENCE_VIEWED and event.details["page"] == "press_sheet"
