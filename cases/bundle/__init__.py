"""Case bundles: the export of one case that a court's examiner can verify offline.

A bundle is a zip holding the case's evidence files, ``provenance.json``,
the case's audit events (``audit-events.jsonl``) with a proof that they are
an unaltered, gap-accounted part of the instance's hash chain
(``audit-chain.json``), ``manifest.json`` listing every file with its size,
SHA-256 and kind, the manifest's Ed25519 signature (``manifest.sig``), and
``VERIFY.md`` with ``verify_bundle.py``, a verifier that needs only Python
and ``cryptography``. docs/EVIDENCE.md describes the format byte for byte.

- ``builder.CaseBundle``: plans, measures, signs and streams one export.
- ``contents``: what goes in, read a piece at a time.
- ``keys``: the instance's export key, in files outside the database.
- ``live``: checks a bundle against the live system (``manage.py verify_bundle``).
- ``verify_bundle``: the stand-alone verifier, copied into every bundle as is;
  it imports nothing of this project (an import-linter contract says so).
"""

from .builder import BundleChanged, CaseBundle

__all__ = ["BundleChanged", "CaseBundle"]
