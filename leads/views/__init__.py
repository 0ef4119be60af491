"""The gallery pages (``galleries``) and the search pages of a case (``searches``)."""
