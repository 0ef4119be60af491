"""The REST API (``/api/v1/``): the pages' access rules, JSON in and out."""
