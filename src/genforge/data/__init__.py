"""Data layer: sources, the raw snapshot (`ingest`) and the prepared splits (`prepare`).

Later stages need only `load_prepared`, `load_meta` and `DataError`; the CLI calls
`genforge.data.ingest.ingest` and `genforge.data.prepare.prepare` and turns a
`DataError` into a one-line message and exit 1. Those two functions are not
re-exported here: a package attribute named like a submodule would shadow it, and
``import genforge.data.prepare as m`` would then return the function.
"""

from genforge.data.errors import DataError
from genforge.data.imageset import ImageSet
from genforge.data.ingest import load_raw
from genforge.data.prepare import load_meta, load_prepared
from genforge.data.sources import load_source

__all__ = ["DataError", "ImageSet", "load_meta", "load_prepared", "load_raw", "load_source"]
