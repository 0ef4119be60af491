"""``python manage.py seed_demo``: demo users for every role and one demo case.

Idempotent: users, the case and its memberships are created when missing
and left alone otherwise (a changed password stays changed). The case and
its memberships are made through ``cases.services``, so the demo audit trail
records them like any others.

For laptops and demos only: the admin user is a superuser whose password is
published (in the README and in this file), so the command refuses to run
unless ``DEBUG`` is on or it is given ``--i-know-this-is-not-production``.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.roles import GlobalRole
from cases import services
from cases.models import Case, CaseMembership

Role = CaseMembership.Role

# user name, password, global role, role on the demo case, superuser
DEMO_USERS = [
    ("artist", "charcoal-lines-7", GlobalRole.FORENSIC_ARTIST, Role.FORENSIC_ARTIST, False),
    ("investigator", "case-file-ledger-3", GlobalRole.INVESTIGATOR, Role.INVESTIGATOR, False),
    ("lead", "lead-the-case-9", GlobalRole.INVESTIGATOR, Role.CASE_LEAD, False),
    ("auditor", "chain-of-custody-5", GlobalRole.AUDITOR, None, False),
    ("admin", "admin-console-2", None, None, True),
]
DEMO_CASE_REFERENCE = "DEMO-0001"
DEMO_CASE_TITLE = "Demo: street robbery, Market Square"
DEMO_CASE_DESCRIPTION = "A demonstration case. The witness saw the suspect for about ten seconds at dusk."


class Command(BaseCommand):
    help = "Create demo users for each role and a demo case (idempotent), and print the logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Only seed a new database: skip when it has users other than the demo users.",
        )
        parser.add_argument(
            "--i-know-this-is-not-production",
            action="store_true",
            dest="not_production",
            help="Seed even with DEBUG off (a demo server, say). Never on a real installation.",
        )

    def handle(self, *args, if_empty: bool = False, not_production: bool = False, **options) -> None:
        if not (settings.DEBUG or not_production):
            raise CommandError(
                "seed_demo creates a superuser and other users whose passwords are published, so it runs only "
                "with DEBUG=1 (as `make run` sets it). Nothing was changed. On a demo machine that is not "
                "production, add --i-know-this-is-not-production."
            )
        demo_names = [name for name, *_ in DEMO_USERS]
        if if_empty and get_user_model().objects.exclude(username__in=demo_names).exists():
            self.stdout.write("The database has users of its own; no demo data added.")
            return
        with transaction.atomic():
            users = {
                name: self._user(name, password, group, superuser) for name, password, group, _, superuser in DEMO_USERS
            }
            lead = users["lead"]
            case = Case.objects.filter(reference=DEMO_CASE_REFERENCE).first() or services.create_case(
                user=lead, reference=DEMO_CASE_REFERENCE, title=DEMO_CASE_TITLE, description=DEMO_CASE_DESCRIPTION
            )
            for name, _, _, role, _ in DEMO_USERS:
                if role is not None and not CaseMembership.objects.filter(case=case, user=users[name]).exists():
                    services.grant_membership(case, users[name], role, user=lead)
        self.stdout.write(f"Demo case {case.reference}: {case.title}")
        self.stdout.write("Demo logins (user name, password, global role; role on the demo case):")
        for name, password, group, role, superuser in DEMO_USERS:
            what = "Administrator (superuser)" if superuser else str(group)
            if role is not None:
                what += f"; {role.label.lower()} on {case.reference}"
            self.stdout.write(f"  {name:<13} {password:<20} {what}")

    def _user(self, name: str, password: str, group: str | None, superuser: bool):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=name, defaults={"is_superuser": superuser, "is_staff": superuser, "email": f"{name}@example.org"}
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            if group is not None:
                user.groups.add(Group.objects.get(name=group))
        return user
