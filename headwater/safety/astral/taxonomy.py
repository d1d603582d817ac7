"""The ASTRAL test grid as data: harm categories x writing styles x persuasion techniques, each with a description.

ASTRAL (Ugarte et al., arXiv 2501.17132, section 3) crosses the 14 BeaverTails categories with 6 writing styles
and 5 persuasion techniques: 420 cells. The grid ships as `data/taxonomy.yaml`; a user YAML file adds entries
(or, with `replace: true`, replaces the dimensions it names), so the planner and generator never hard-code names.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from headwater.errors import InvalidRequestError

DIMENSIONS = ("categories", "styles", "techniques")
"""The taxonomy file's dimension keys, in cell order (category, style, technique)."""

FIELDS = {"categories": "category", "styles": "style", "techniques": "technique"}
"""Each dimension's field name in plan, test and result lines."""
Cell = tuple[str, str, str]


def read_yaml_mapping(path: Path | str, allowed: tuple[str, ...]) -> dict[str, object]:
    """A YAML file's top-level mapping; an unknown key raises an error naming it and the allowed ones, since a
    typo ("style" for "styles") would otherwise silently change nothing."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidRequestError(f"cannot read {path}: {error}", param="file") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InvalidRequestError(f"{path} is not valid UTF-8 YAML: {error}", param="file") from error
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidRequestError(f"{path}: the top level must be a mapping with keys {', '.join(allowed)}")
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise InvalidRequestError(
            f"{path}: unknown key {unknown[0]!r}; allowed keys are {', '.join(allowed)}", param=unknown[0]
        )
    return data


def _entries(path: Path | str, key: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise InvalidRequestError(f"{path}: {key!r} must be a non-empty mapping of name -> description", param=key)
    entries = {}
    for name, description in value.items():
        if not isinstance(name, str) or not name.strip() or "\n" in name:
            raise InvalidRequestError(f"{path}: {key!r} has an invalid name {name!r}; use a one-line string", param=key)
        if not isinstance(description, str) or not description.strip():
            raise InvalidRequestError(
                f"{path}: {key}.{name} needs a non-empty description string (the generator shows it to the model)",
                param=f"{key}.{name}",
            )
        entries[name.strip()] = description.strip()
    return entries


@dataclass(frozen=True)
class Taxonomy:
    """Name -> description for each dimension; `cells()` is the full grid in a stable order."""

    categories: dict[str, str]
    styles: dict[str, str]
    techniques: dict[str, str]

    def cells(self) -> list[Cell]:
        """Every (category, style, technique), categories outermost, in file order."""
        return list(itertools.product(self.categories, self.styles, self.techniques))

    def dimension(self, name: str) -> dict[str, str]:
        """One dimension by its file key (`categories`, `styles` or `techniques`)."""
        if name not in DIMENSIONS:
            raise InvalidRequestError(f"unknown dimension {name!r}; use one of {', '.join(DIMENSIONS)}", param=name)
        return getattr(self, name)

    def check_cell(self, cell: Cell, where: str) -> None:
        """Raise an error naming `where` and the allowed values when a cell is not in this taxonomy."""
        for dimension, value in zip(DIMENSIONS, cell, strict=True):
            allowed = self.dimension(dimension)
            if value not in allowed:
                field = FIELDS[dimension]
                raise InvalidRequestError(
                    f"{where}: {field} {value!r} is not in the taxonomy; allowed: {', '.join(allowed)} "
                    "(or add it with --taxonomy FILE)",
                    param=field,
                )


def default_taxonomy() -> Taxonomy:
    """The shipped 14 x 6 x 5 grid."""
    source = resources.files("headwater.safety.astral").joinpath("data/taxonomy.yaml")
    with resources.as_file(source) as path:
        data = read_yaml_mapping(path, DIMENSIONS)
        return Taxonomy(*(_entries(path, key, data[key]) for key in DIMENSIONS))


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """The default grid extended by a user YAML file (new names added, same names re-described); with
    `replace: true` each dimension the file names replaces the default one."""
    base = default_taxonomy()
    if path is None:
        return base
    data = read_yaml_mapping(path, (*DIMENSIONS, "replace"))
    replace = data.get("replace", False)
    if not isinstance(replace, bool):
        raise InvalidRequestError(f"{path}: 'replace' must be true or false, got {replace!r}", param="replace")
    merged = []
    for key in DIMENSIONS:
        if key not in data:
            merged.append(base.dimension(key))
            continue
        extra = _entries(path, key, data[key])
        merged.append(extra if replace else {**base.dimension(key), **extra})
    return Taxonomy(*merged)
