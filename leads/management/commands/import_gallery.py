"""``python manage.py import_gallery NAME PATH``: import a folder, zip or tar of photos into a gallery."""

import sys
from itertools import islice
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cases.custody import UNAVAILABLE_MESSAGE, StorageUnavailable
from leads import imports
from leads.models import Gallery, ImportBatch, is_admin

#: Files per batch (one audit event each): a long import keeps what it has done if it is stopped.
BATCH_SIZE = 200


class Command(BaseCommand):
    help = (
        "Import the photos of a folder, zip or tar into a gallery. Each photo's reference is its file name "
        "without extension, or the one --references gives it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="The gallery's name.")
        parser.add_argument("path", type=Path, help="A folder, a zip or a tar (.tar, .tar.gz, ...).")
        parser.add_argument("--references", type=Path, help="A CSV file of filename,reference rows.")
        parser.add_argument(
            "--user", help="The administrator the import is recorded as (default: the gallery's owner)."
        )

    def handle(self, *args, name: str, path: Path, references: Path | None, user: str | None, **options) -> None:
        gallery = Gallery.objects.filter(name=name).first()
        if gallery is None:
            raise CommandError(f"There is no gallery called {name!r}; an administrator makes it on the Galleries page.")
        importer = gallery.owner if user is None else get_user_model().objects.filter(username=user).first()
        if importer is None or not is_admin(importer):
            raise CommandError(f"{user or importer.get_username()!r} is not an active administrator.")
        path = Path(path)
        if not path.exists():
            raise CommandError(f"{path} does not exist.")
        given = {}
        if references is not None:
            try:
                given = imports.read_references(Path(references).read_text(encoding="utf-8-sig"))
            except (OSError, UnicodeDecodeError) as error:
                raise CommandError(f"The references file cannot be read: {error}") from error
        try:
            files = list(imports.with_references(imports.members_of(path), given))
            totals = self.run_batches(gallery, files, importer)
        except imports.ArchiveRefused as refusal:
            raise CommandError(str(refusal)) from refusal
        except StorageUnavailable as error:
            raise CommandError(UNAVAILABLE_MESSAGE) from error
        added, duplicates, refused = totals
        self.stdout.write(f"{gallery.name}: {added} added, {duplicates} duplicates, {refused} refused.")

    def run_batches(self, gallery: Gallery, files: list, importer) -> tuple[int, int, int]:
        totals = [0, 0, 0]
        done, total = 0, len(files)
        files = iter(files)
        while chunk := list(islice(files, BATCH_SIZE)):

            def progress(outcome: imports.Outcome) -> None:
                nonlocal done
                done += 1
                if outcome.outcome == "refused":
                    self.stderr.write(f"\nrefused {outcome.filename}: {outcome.message}")
                if sys.stdout.isatty():
                    filled = round(30 * done / total)
                    self.stdout.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", ending="")

            batch = imports.import_photos(
                gallery, chunk, user=importer, source=ImportBatch.Source.COMMAND, progress=progress
            )
            for i, count in enumerate((batch.added, batch.duplicates, batch.refused)):
                totals[i] += count
        if sys.stdout.isatty():
            self.stdout.write("")
        return totals[0], totals[1], totals[2]
