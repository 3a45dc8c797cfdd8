"""The names a rule may use: catalogue fields, computed fields and functions.

Computed fields are defined in the rule language itself, so every back-end
supports them without special code and explanations can still name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from solidarity.registry.fields import WASHINGTON_GROUP_FIELDS, Catalogue, FieldSpec, catalogue
from solidarity.rules.nodes import Type

Level = Literal["household", "person"]


@dataclass(frozen=True)
class FieldInfo:
    """A name usable in a rule: its type, label and, for code fields, the allowed codes."""

    name: str
    type: Type
    label: str
    extra: bool = False
    codes: tuple[str | int, ...] | None = None
    storage: str = ""  # the catalogue type: integer, number, code ...


@dataclass(frozen=True)
class Computed:
    """A computed field: its name, label and defining rule text."""

    name: str
    label: str
    definition: str


_DISABILITY = " || ".join(f"{name} >= 3" for name in WASHINGTON_GROUP_FIELDS)

#: Computed person fields (also usable as ``m.<name>`` inside aggregates).
PERSON_COMPUTED: tuple[Computed, ...] = (
    Computed("age", "Age", "years_between(birth_date, today())"),
    Computed("disability", "Has a disability", _DISABILITY),
    Computed("is_head", "Is the household head", "relationship == 'head'"),
    Computed("is_female", "Is female", "sex == 'female'"),
)

#: Computed household fields, over the household's active members.
HOUSEHOLD_COMPUTED: tuple[Computed, ...] = (
    Computed("size", "Household size", "count(members)"),
    Computed("total_income", "Total household income", "sum(members, m.income)"),
    Computed("per_capita_income", "Per-capita income", "total_income / size"),
    Computed("children", "Children under 18", "count(members, m.age < 18)"),
    Computed("elderly", "Members aged 65 or over", "count(members, m.age >= 65)"),
    Computed("disabled_members", "Members with a disability", "count(members, m.disability)"),
    Computed("head_age", "Age of the household head", "max(members, m.is_head ? m.age : null)"),
    Computed("female_headed", "Female-headed household", "any(members, m.is_head && m.is_female)"),
)

_TYPES: dict[str, Type] = {
    "string": "string",
    "code": "string",
    "integer": "number",
    "number": "number",
    "boolean": "boolean",
    "date": "date",
}


def _info(spec: FieldSpec, cat: Catalogue) -> FieldInfo:
    codes = None
    if spec.codelist and spec.codelist in cat.lists:
        codes = tuple(cat.lists[spec.codelist])
    return FieldInfo(spec.name, _TYPES[spec.type], spec.label, spec.extra, codes, spec.type)


@dataclass(frozen=True)
class Vocabulary:
    """Stored and computed fields by level."""

    household: dict[str, FieldInfo]
    person: dict[str, FieldInfo]
    household_computed: dict[str, Computed]
    person_computed: dict[str, Computed]

    def names(self, level: Level) -> list[str]:
        """Every bare name usable at ``level``."""
        if level == "household":
            return [*self.household, *self.household_computed]
        return [*self.person, *self.person_computed]


def vocabulary_from(cat: Catalogue) -> Vocabulary:
    """The vocabulary of a field catalogue (built-in plus the deployment's extra fields)."""
    return Vocabulary(
        household={f.name: _info(f, cat) for f in cat.household},
        person={f.name: _info(f, cat) for f in cat.person},
        household_computed={c.name: c for c in HOUSEHOLD_COMPUTED},
        person_computed={c.name: c for c in PERSON_COMPUTED},
    )


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The vocabulary of the built-in catalogue."""
    return vocabulary_from(catalogue())


#: Scalar functions: name -> (minimum, maximum) number of arguments.
FUNCTIONS: dict[str, tuple[int, int]] = {
    "min": (2, 2),
    "max": (2, 2),
    "abs": (1, 1),
    "round": (1, 2),
    "floor": (1, 1),
    "ceil": (1, 1),
    "coalesce": (2, 8),
    "years_between": (2, 2),
    "days_between": (2, 2),
    "today": (0, 0),
}
