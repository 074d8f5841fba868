"""The constant catalog: which popoto constants exist, how each is read, and what to search.

``model`` holds the catalog itself (``Constant``, ``Catalog``, ``load_catalog``), ``checks``
the rules a catalog file must follow, ``errors`` what both raise. The public names are
re-exported here, so ``from tuner.catalog import Constant, load_catalog`` is the way in.
"""

from tuner.catalog.errors import CatalogError, UnknownConstantError
from tuner.catalog.model import (
    REACH_STATUSES,
    READ_MODES,
    REPO_CATALOG,
    Catalog,
    Constant,
    argument_default,
    default_catalog_path,
    load_catalog,
)

__all__ = [
    "READ_MODES",
    "REACH_STATUSES",
    "REPO_CATALOG",
    "Catalog",
    "CatalogError",
    "Constant",
    "UnknownConstantError",
    "argument_default",
    "default_catalog_path",
    "load_catalog",
]
