"""What a refused request must leave as it was: every row of the domain and
every stored file.

``snapshot()`` reads every table outside the audit trail and the session
store (users' ``last_login`` aside: signing in a test client sets it), and
the SHA-256 of every file in the default storage. Two snapshots compare
equal when nothing was created, changed or deleted; ``nothing_changes()``
asserts that of the code it wraps.
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.apps import apps
from django.core.files.storage import default_storage

#: Apps whose rows a refusal may write: the trail of the refusal itself, the visitor's session.
EXCLUDED_APPS = {"audit", "sessions"}
#: Fields that change without anything being done: the user model's last sign-in.
EXCLUDED_FIELDS = {("auth", "user"): {"last_login"}}


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, dict[object, dict]]  # model label -> primary key -> row
    files: dict[str, str]  # file name -> SHA-256


def table_rows() -> dict[str, dict[object, dict]]:
    rows = {}
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label in EXCLUDED_APPS or meta.proxy or not meta.managed:
            continue
        skip = EXCLUDED_FIELDS.get((meta.app_label, meta.model_name), set())
        names = [field.attname for field in meta.concrete_fields if field.name not in skip]
        rows[meta.label] = {row[meta.pk.attname]: row for row in model._base_manager.values(*names)}
    return rows


def stored_files(folder: str = "") -> dict[str, str]:
    """Every file in the default storage under ``folder``, by name, with its SHA-256."""
    if folder and not default_storage.exists(folder):
        return {}
    folders, files = default_storage.listdir(folder)
    found = {}
    for name in files:
        path = f"{folder}/{name}" if folder else name
        with default_storage.open(path, "rb") as stored:
            found[path] = hashlib.sha256(stored.read()).hexdigest()
    for name in folders:
        found.update(stored_files(f"{folder}/{name}" if folder else name))
    return found


def snapshot() -> Snapshot:
    return Snapshot(rows=table_rows(), files=stored_files())


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots, table by table and file by file, for an assertion message."""
    found = []
    for label, new in after.rows.items():
        old = before.rows.get(label, {})
        found += [f"{label} {key} created: {new[key]}" for key in new.keys() - old.keys()]
        found += [f"{label} {key} deleted: {old[key]}" for key in old.keys() - new.keys()]
        found += [
            f"{label} {key} changed: {old[key]} -> {new[key]}"
            for key in old.keys() & new.keys()
            if old[key] != new[key]
        ]
    for name in after.files.keys() | before.files.keys():
        if before.files.get(name) != after.files.get(name):
            found.append(f"file {name}: {before.files.get(name)} -> {after.files.get(name)}")
    return sorted(found)


@contextmanager
def nothing_changes() -> Iterator[None]:
    """Fail unless the code in the ``with`` block leaves every domain row and stored file as it was."""
    before = snapshot()
    yield
    found = changes(before, snapshot())
    assert not found, "changed:\n" + "\n".join(found)
