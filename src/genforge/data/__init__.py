"""Data layer: sources, the raw snapshot (`ingest`) and the prepared splits (`prepare`).

Later stages need only `load_prepared`, `load_meta` and `DataError`; the CLI calls
`genforge.data.ingest.ingest` and `genforge.data.prepare.prepare` and turns a
`DataError` into a one-line message and exit 1. Those two functions are not
re-exported here: a package attribute named like a submodule would shadow it, and
``import genforge.data.prepare as m`` would then return the function.

The names below are imported on first use (PEP 562): config.py imports the source
table `genforge.data.sources`, and importing this package must then not import
ingest/prepare, which import config.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genforge.data.errors import DataError
    from genforge.data.imageset import ImageSet
    from genforge.data.ingest import load_raw
    from genforge.data.prepare import load_meta, load_prepared
    from genforge.data.sources import load_source

_WHERE = {
    "DataError": "errors",
    "ImageSet": "imageset",
    "load_raw": "ingest",
    "load_meta": "prepare",
    "load_prepared": "prepare",
    "load_source": "sources",
}
__all__ = ["DataError", "ImageSet", "load_meta", "load_prepared", "load_raw", "load_source"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"genforge.data.{_WHERE[name]}"), name)
