"""Specification of the data sources (``galzoo.sources``): HTTP, downloads, archives and each source."""
