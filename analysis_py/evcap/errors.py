"""Named exceptions for errors a user can hit, each with a message saying what to do."""

from __future__ import annotations


class EvcapError(Exception):
    """Base class of every error evcap raises on purpose."""


class ConfigError(EvcapError):
    """A setting, option or input file is invalid."""


class DatabaseUnavailableError(EvcapError):
    """The database cannot be reached or the embedded server cannot start."""


class SchemaError(EvcapError):
    """A schema or table is missing, or is not what evcap expects."""


class UnknownTransformerError(EvcapError):
    """A transformer id given by the user does not exist in the marts."""


class InvalidChargerError(EvcapError):
    """A charger type or a mix specification is invalid."""


class DbtRunError(EvcapError):
    """`dbt` exited with an error."""
