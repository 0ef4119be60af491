"""The press sheet of a released composite: what goes to the press and the public, and nothing else.

A sheet holds the released image, the case reference, the public
description the investigator writes for it, the contact details of
``settings.PRESS_CONTACT``, the date it is issued and the caveat that the
image is a generated likeness, not a photograph. Everything on it is a
field of ``PressSheet``, filled by ``sheet_for`` from those alone: nothing
of the witness (``provenance.WITNESS_FIELDS``), no internal notes (the
case's title and description, the reason given for the release, the
request's parameters) and no user names. The image is read through custody
(``evidence.read_verified``: an altered file makes no sheet) and re-encoded
from its pixels, so the PNG text chunks the stored file carries stay behind.

``make`` produces a sheet, as a PDF (ReportLab) or for the printable page,
and records it (``press_sheet_made``, with the description as printed).
"""

import base64
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from PIL import Image
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus import Image as PdfImage

import audit

from .evidence import read_verified
from .models import Composite

#: Printed on every sheet, beside the image; the image's own band says it too.
CAVEAT = (
    "This image is a computer-generated likeness made from an artist's drawing. "
    "It is not a photograph, and it does not show or identify any real person."
)

#: The longest public description, in characters (about half a page of the PDF).
DESCRIPTION_MAX_LENGTH = 2000

#: The PDF's typeface (Helvetica, one of the fonts every PDF reader has) shows Windows-1252 only.
PDF_ENCODING = "cp1252"


class PressSheetError(Exception):
    """This composite cannot have a press sheet. The message is shown to the user."""


@dataclass(frozen=True)
class PressSheet:
    """Everything a press sheet shows, and nothing else."""

    reference: str
    description: str
    contact: str
    issued: date
    image_png: bytes  # the released image's pixels, without the stored file's text chunks
    image_sha256: str  # the released file's SHA-256, as recorded
    caveat: str = CAVEAT

    @property
    def paragraphs(self) -> list[list[str]]:
        """The description's paragraphs (split at blank lines), each a list of its lines."""
        return [block.split("\n") for block in re.split(r"\n\s*\n", self.description) if block.strip()]

    @property
    def contact_lines(self) -> list[str]:
        return [line for line in self.contact.splitlines() if line.strip()]

    @property
    def image_data_uri(self) -> str:
        """The image for the printable page's ``<img>``: the same pixels as the PDF's."""
        return "data:image/png;base64," + base64.b64encode(self.image_png).decode("ascii")

    @property
    def issued_display(self) -> str:
        return f"{self.issued.day} {self.issued:%B %Y}"

    @property
    def image_size(self) -> tuple[int, int]:
        with Image.open(io.BytesIO(self.image_png)) as image:
            return image.size


def clean_description(value: str) -> str:
    """The public description as it will be printed, or ``ValidationError`` saying what to change.

    Line breaks are kept (``\\r\\n`` becomes ``\\n``); any other control
    character is refused, as is a character the PDF's typeface cannot show
    (it would print as a black box) and a description of only spaces.
    """
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationError("Write the description the public will read.")
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise ValidationError(f"Keep the description to {DESCRIPTION_MAX_LENGTH} characters (it has {len(text)}).")
    if any((ord(character) < 32 and character != "\n") or 127 <= ord(character) < 160 for character in text):
        raise ValidationError("Use ordinary text and line breaks: no tabs or other control characters.")
    unprintable = sorted({character for character in text if not _printable(character)})
    if unprintable:
        shown = " ".join(unprintable[:5])
        raise ValidationError(
            f"The press sheet's typeface cannot print {shown}. Use Western European letters and punctuation."
        )
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _printable(character: str) -> bool:
    try:
        character.encode(PDF_ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def _for_pdf(text: str) -> str:
    """``text`` with any character the typeface cannot show (in a reference or the contact) as ``?``."""
    return "".join(character if _printable(character) else "?" for character in text)


def check_released(composite: Composite) -> None:
    if not composite.released or composite.status != Composite.Status.DONE or not composite.image:
        raise PressSheetError("Only a composite released for dissemination can have a press sheet.")


def public_image(data: bytes) -> bytes:
    """The image's pixels as a new PNG: none of the stored file's text chunks (its provenance)."""
    with Image.open(io.BytesIO(data)) as stored:
        pixels = stored.convert("RGB")
    buffer = io.BytesIO()
    pixels.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def sheet_for(composite: Composite, description: str, image_data: bytes) -> PressSheet:
    """The sheet of ``composite`` (released, its file's bytes ``image_data`` already verified)."""
    check_released(composite)
    return PressSheet(
        reference=composite.sketch.case.reference,
        description=clean_description(description),
        contact=settings.PRESS_CONTACT,
        issued=timezone.localdate(),
        image_png=public_image(image_data),
        image_sha256=composite.output_sha256,
    )


def make(composite: Composite, *, description: str, kind: str, request: HttpRequest) -> tuple[PressSheet, bytes]:
    """A press sheet of ``composite``, recorded as ``press_sheet_made``: the sheet and, for
    ``kind="pdf"``, the PDF's bytes (for ``kind="html"``, the printable page, ``b""``).

    Raises ``PressSheetError`` for a composite that is not released, and
    ``custody.CustodyError`` (recorded as ``integrity_failed``) when its file
    is missing or altered.
    """
    check_released(composite)
    case = composite.sketch.case
    data = read_verified(composite.image, composite.output_sha256, request=request, case=case, obj=composite)
    sheet = sheet_for(composite, description, data)
    document = render_pdf(sheet) if kind == "pdf" else b""
    details = {
        "format": kind,
        "composite_sha256": composite.output_sha256,
        "description": sheet.description,
        "contact": sheet.contact,
        "issued": sheet.issued.isoformat(),
    }
    if document:
        details["pdf_sha256"] = hashlib.sha256(document).hexdigest()
    with transaction.atomic():
        audit.record(audit.Action.PRESS_SHEET_MADE, request=request, obj=composite, case=case, details=details)
    return sheet, document


# The PDF: one A4 page.

INK = colors.HexColor("#1f2933")
MUTED = colors.HexColor("#52606d")
WARN = colors.HexColor("#8a5a00")

STYLES = {
    "title": ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=22, leading=27, textColor=INK),
    "reference": ParagraphStyle("reference", fontName="Helvetica-Bold", fontSize=13, leading=17, textColor=INK),
    "caveat": ParagraphStyle("caveat", fontName="Helvetica-Bold", fontSize=10.5, leading=14, textColor=INK),
    "body": ParagraphStyle("body", fontName="Helvetica", fontSize=11.5, leading=16, textColor=INK, spaceAfter=8),
    "heading": ParagraphStyle(
        "heading", fontName="Helvetica-Bold", fontSize=12.5, leading=16, textColor=INK, spaceBefore=6, spaceAfter=4
    ),
    "small": ParagraphStyle("small", fontName="Helvetica", fontSize=8, leading=10, textColor=MUTED),
}

#: Width of the image on the page.
IMAGE_WIDTH = 8.5 * cm


def render_pdf(sheet: PressSheet) -> bytes:
    """The sheet as an A4 PDF (a long description runs onto a second page)."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.6 * cm,
        bottomMargin=1.6 * cm,
        title=_for_pdf(f"Public appeal, case {sheet.reference}"),
        author="",
        subject="Generated likeness: not a photograph",
        creator="Sketch inversion press sheet",
    )
    document.build(_story(sheet))
    return buffer.getvalue()


def _text(value: str) -> str:
    """Plain text for a ReportLab paragraph, which reads a little markup: escaped, line breaks kept."""
    return "<br/>".join(escape(_for_pdf(line)) for line in value.split("\n"))


def _story(sheet: PressSheet) -> list[Flowable]:
    width, height = sheet.image_size
    image = PdfImage(io.BytesIO(sheet.image_png), width=IMAGE_WIDTH, height=IMAGE_WIDTH * height / width)
    caveat = Table(
        [[Paragraph(_text(sheet.caveat), STYLES["caveat"])]],
        colWidths=[A4[0] - 4 * cm],
        style=TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 1.5, WARN),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#fff4d6")),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        ),
    )
    issued = sheet.issued_display
    story: list[Flowable] = [
        Paragraph("Appeal for information", STYLES["title"]),
        Paragraph(_text(f"Case reference {sheet.reference} · Issued {issued}"), STYLES["reference"]),
        Spacer(1, 0.4 * cm),
        image,
        Spacer(1, 0.4 * cm),
        caveat,
        Spacer(1, 0.5 * cm),
    ]
    story += [Paragraph(_text("\n".join(lines)), STYLES["body"]) for lines in sheet.paragraphs]
    story += [
        Paragraph("If you have information", STYLES["heading"]),
        *(Paragraph(_text(line), STYLES["body"]) for line in sheet.contact_lines),
        Paragraph(_text(f"Quote the case reference {sheet.reference}."), STYLES["body"]),
        Spacer(1, 0.3 * cm),
        Paragraph(_text(f"Image SHA-256 {sheet.image_sha256}. Issued {issued}."), STYLES["small"]),
    ]
    return story
