"""Global roles: Django groups (created by migration ``cases.0002_roles``).

What a user may do on a case depends on their role on that case
(``cases.access``); these say who may open cases and who reads the audit trail.
"""

from enum import StrEnum

from audit.actions import AUDITOR_GROUP


class GlobalRole(StrEnum):
    FORENSIC_ARTIST = "Forensic artist"
    INVESTIGATOR = "Investigator"
    AUDITOR = AUDITOR_GROUP


def has_global_role(user, role: GlobalRole) -> bool:
    return user.is_authenticated and user.is_active and user.groups.filter(name=role).exists()
