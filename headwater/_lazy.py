"""Lazy public names for a package: `from headwater.models import HFGenerator` loads `hf_generator` (and torch)
only when that name is first used, so a command that needs none of it (`headwater --help`, `keys list`,
`footprint estimate`) starts without importing torch or transformers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module `__getattr__` and `__dir__` for `package`: each public name maps to the module defining it; the
    value is imported on first access and kept in the package's `namespace`.

    A name that is also its module's name (`headwater.judge.bench` defines `bench`) is imported at once: importing
    a submodule sets the package attribute of that name to the module, which would otherwise hide the function."""
    for name, module in exports.items():
        if module == f"{package}.{name}":
            namespace[name] = getattr(importlib.import_module(module), name)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
