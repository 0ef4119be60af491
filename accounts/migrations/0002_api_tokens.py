"""API tokens (``accounts.ApiToken``): named, expiring, revocable, kept as a SHA-256 digest.

They replace Django REST framework's ``authtoken`` keys, which stop working:
that app is no longer installed and no migration depends on it. An upgraded
database keeps the old keys in the table ``authtoken_token``, read by
nothing; drop it (README, "REST API").
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import accounts.models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_second_factors_from_cases"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "name",
                    models.CharField(
                        help_text="What the token is for, e.g. the script that uses it.",
                        max_length=100,
                        validators=[accounts.models.single_line],
                    ),
                ),
                (
                    "prefix",
                    models.CharField(help_text="The secret's first characters, to tell tokens apart.", max_length=16),
                ),
                (
                    "digest",
                    models.CharField(help_text="The SHA-256 of the secret, in hex.", max_length=64, unique=True),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("expires_at", models.DateTimeField()),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "revoked_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["owner", "created_at"], name="apitoken_owner_created_idx")],
            },
        ),
    ]
