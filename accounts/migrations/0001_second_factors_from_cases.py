"""Users' authenticators move from ``cases.TOTPDevice`` (hand-written TOTP) to django-otp.

Each confirmed secret becomes a django-otp ``TOTPDevice`` with the same key
(base32 there, hex here), the same 30-second step and six digits, one step
of drift either way, and ``last_t`` set to the last step accepted, so the
codes a user's app shows keep working and none is accepted twice.
Unconfirmed set-ups are dropped: the user starts the set-up again.
"""

import base64

from django.db import migrations


def copy_devices(apps, schema_editor):
    OldDevice = apps.get_model("cases", "TOTPDevice")
    NewDevice = apps.get_model("otp_totp", "TOTPDevice")
    for old in OldDevice.objects.filter(confirmed_at__isnull=False).select_related("user"):
        NewDevice.objects.create(
            user_id=old.user_id,
            name="Authenticator app",
            confirmed=True,
            key=base64.b32decode(old.secret).hex(),
            step=30,
            t0=0,
            digits=6,
            tolerance=1,
            drift=0,
            last_t=old.last_step,
            created_at=old.created_at,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0005_totp_device"),
        ("otp_totp", "0003_add_timestamps"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [migrations.RunPython(copy_devices, migrations.RunPython.noop)]
