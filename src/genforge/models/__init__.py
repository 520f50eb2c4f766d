"""Model families, one package each under models/, found by `registry.py`.

A new family is one package `models/<name>/` (its params section and its
`GenerativeModel` subclass) plus its section in params.yaml; nothing here changes.
Importing this package imports no family: `build` and `REGISTRY` import one by name.
"""

from __future__ import annotations

from genforge.models.base import FamilyConfig, GenerativeModel, Optimizers
from genforge.models.registry import REGISTRY, build, config_class, family_names, model_class

__all__ = [
    "REGISTRY",
    "FamilyConfig",
    "GenerativeModel",
    "Optimizers",
    "build",
    "config_class",
    "family_names",
    "model_class",
]
