"""The families, discovered once: every package under models/ is one.

A family is `models/<name>/` (its `__init__.py`, plus modules only it uses) holding
its params section (a `FamilyConfig` subclass) and its model (a `GenerativeModel`
subclass whose `family` is `<name>`). Nothing else lists the families: config.py
builds `models.families` and the `models.<name>` sections from here, the CLI offers
these names, the contract test runs each, and dvc.yaml's `train@<name>` depends on
the family's own folder (tests/test_dvc.py checks that against `family_sources`).

A family's module is imported only when something asks for it by name, so
`genforge train --family X` builds X without importing the other families' code
(their params sections are still validated, which imports their modules).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from genforge.models.base import FamilyConfig, GenerativeModel

MODELS_DIR = Path(__file__).parent
SRC = MODELS_DIR.parents[1]  # src/


def family_names() -> tuple[str, ...]:
    """Every family, sorted: the packages under models/ (cheap: no import)."""
    return tuple(sorted(d.name for d in MODELS_DIR.iterdir() if (d / "__init__.py").is_file()))


def model_class(name: str) -> type[GenerativeModel]:
    """The model class of family `name`, importing only its package (and what it imports)."""
    from genforge.models.base import GenerativeModel

    if name not in family_names():
        raise KeyError(f"unknown family {name!r}; registered: {', '.join(family_names())}")
    module = importlib.import_module(f"genforge.models.{name}")
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, GenerativeModel)
        and v.__module__ == module.__name__
    ]
    if len(found) != 1 or getattr(found[0], "family", None) != name:
        raise TypeError(
            f"{module.__file__}: a family package defines exactly one GenerativeModel "
            f"subclass with family = {name!r}; found {[c.__name__ for c in found]}"
        )
    return found[0]


def config_class(name: str) -> type[FamilyConfig]:
    """The params section class of family `name` (models.<name> in params.yaml)."""
    return model_class(name).config_class


def build(family: str, cfg, image_shape: tuple[int, int, int], num_classes: int) -> GenerativeModel:
    """Instantiate `family` from its params section; unknown names raise a clear KeyError."""
    return model_class(family)(cfg, image_shape, num_classes)


class _Registry(Mapping):
    """name -> model class, importing a family's module only when it is looked up."""

    def __getitem__(self, name: str) -> type[GenerativeModel]:
        return model_class(name)

    def __iter__(self) -> Iterator[str]:
        return iter(family_names())

    def __len__(self) -> int:
        return len(family_names())


REGISTRY: Mapping[str, type[GenerativeModel]] = _Registry()


# ------------------------------------------------------------ what a family's code is
def genforge_imports(path: Path, seen: set[Path] | None = None) -> set[Path]:
    """The genforge source files `path` imports, transitively (config.py, sections.py and
    errors.py aside: params are fingerprinted as values, not code)."""
    seen = seen if seen is not None else set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genforge."):
            mod = SRC / Path(*node.module.split("."))
            file = mod.with_suffix(".py")
            target = file if file.is_file() else mod / "__init__.py"
            if target not in seen and target.name not in ("config.py", "sections.py", "errors.py"):
                seen.add(target)
                genforge_imports(target, seen)
    return seen


def family_sources(name: str) -> list[Path]:
    """The source files family `name`'s model is made of: its own package and the shared
    modules it imports (transitively). Its checkpoint fingerprint hashes these, and
    dvc.yaml's train@<name> must depend on each (tests/test_dvc.py)."""
    if name not in family_names():
        raise KeyError(f"unknown family {name!r}; registered: {', '.join(family_names())}")
    own = sorted((MODELS_DIR / name).rglob("*.py"))
    seen: set[Path] = set(own)
    for path in own:
        genforge_imports(path, seen)
    return sorted(seen)
