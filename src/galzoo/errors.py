"""Errors meant for people: each names the file, row or key at fault and what was expected."""


class GalzooError(Exception):
    """Base class of every error galzoo raises on purpose."""


class ConfigError(GalzooError):
    """A parameter in params.yaml (or a -S override) is missing, unknown or out of range."""


class DataError(GalzooError):
    """An input file (image, labels.csv, array store, split) is missing, unreadable or inconsistent."""
