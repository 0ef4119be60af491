"""Multi-witness morphs (cases.morphs): the average of finished composites, stored as evidence of its own."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import cases.models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0010_custody_sweep"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Morph",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "style",
                    models.CharField(
                        choices=[("line", "Line"), ("grayscale", "Grayscale"), ("color", "Colour")], max_length=16
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("requested", "Requested"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                        ],
                        default="requested",
                        max_length=16,
                    ),
                ),
                ("image", models.FileField(blank=True, max_length=200, upload_to=cases.models.morph_upload_to)),
                ("output_sha256", models.CharField(blank=True, db_index=True, max_length=64)),
                (
                    "provenance",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Every source composite and sketch with their hashes, the method, the code.",
                    ),
                ),
                (
                    "face_descriptor",
                    models.JSONField(
                        blank=True, help_text="dlib's descriptor of the morph's face, made in the same job.", null=True
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("error_message", models.TextField(blank=True)),
                ("released", models.BooleanField(default=False)),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                ("release_reason", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="morphs", to="cases.case"
                    ),
                ),
                (
                    "released_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                ("sources", models.ManyToManyField(related_name="morphs", to="cases.composite")),
            ],
            options={
                "ordering": ["-created_at"],
                "indexes": [
                    models.Index(fields=["case", "-created_at"], name="morph_case_created_idx"),
                    models.Index(fields=["status", "created_at"], name="morph_status_created_idx"),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("released", False), ("status", "done"), _connector="OR"),
                        name="morph_released_only_when_done",
                    )
                ],
            },
        ),
    ]
