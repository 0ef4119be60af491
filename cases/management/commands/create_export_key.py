"""``manage.py create_export_key``: make the Ed25519 key that signs case bundles.

The key is written under ``EXPORT_KEY_DIR``, outside the database: the
private key readable by its owner only, the public keys listed in
``keys.json``. ``--rotate`` replaces the current key; the old private key is
deleted and its public key stays listed, so the bundles it signed can still
be checked. Each new and retired key is recorded in the audit trail
(``admin_action``, object type ``exportkey``), where the auditor's integrity
page lists them. Run it where the key directory is kept, then give the web
processes read access to it.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

import audit
from cases.bundle import keys


class Command(BaseCommand):
    help = "Make the export key that signs case bundles (--rotate to replace it, keeping its public key listed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--rotate", action="store_true", help="Replace the current key with a new one.")

    def handle(self, *args, rotate: bool = False, **options) -> None:
        try:
            new, retired = keys.create(rotate=rotate)
        except keys.ExportKeyError as error:
            raise CommandError(str(error)) from None
        with transaction.atomic():
            for key, operation in [*((old, "export_key_retired") for old in retired), (new, "export_key_created")]:
                audit.record(
                    audit.Action.ADMIN_ACTION,
                    username="create_export_key",
                    object_type="exportkey",
                    object_id=key.fingerprint,
                    details={"operation": operation, **key.as_dict()},
                )
        for old in retired:
            self.stdout.write(f"Retired export key {old.fingerprint} (its public key stays listed).")
        self.stdout.write(f"Export key {new.fingerprint} ({keys.ALGORITHM}) in {keys.key_dir()}")
        self.stdout.write(f"Public key (base64): {new.public_key}")
