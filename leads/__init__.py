"""Leads: search an agency's photo galleries with a witness sketch and its composites.

A gallery (arrest records, known offenders of a series, a case's persons of
interest) is an agency resource, not part of one case: administrators make
galleries and grant named investigators leave to search them. A search runs
in a worker, ranks the gallery's photos by their faces' distance to the
sketch's and its composites' (``inversion.leads``), and gives a shortlist:
leads for a person to check, never identifications.
"""
