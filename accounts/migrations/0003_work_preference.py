"""What each user has seen of their work queue, and whether they want e-mail when work finishes
(``accounts.WorkPreference``)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_api_tokens"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="WorkPreference",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "work_seen_at",
                    models.DateTimeField(blank=True, help_text="When the user last opened their work page.", null=True),
                ),
                (
                    "email_when_finished",
                    models.BooleanField(
                        default=False, help_text="E-mail the user when work they started is done or has failed."
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="work_preference",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["user"],
            },
        ),
    ]
