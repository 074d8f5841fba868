"""The catalog's errors, apart from the code that raises them so that ``model`` and ``checks``
can both raise them without importing each other."""

from __future__ import annotations


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the entry and the rule it broke."""


class UnknownConstantError(KeyError):
    """A constant name that resolves to nothing; ``str()`` carries a did-you-mean."""

    def __str__(self) -> str:
        return str(self.args[0])
