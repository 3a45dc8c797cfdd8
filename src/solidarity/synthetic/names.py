"""Invented names built from syllables: people's given and family names, and place names.

The pools are fixed for the whole country (they do not depend on the seed), and
names are drawn from them with Zipf-like frequencies so that common names
collide as they do in real registries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

_ONSETS = (
    "b", "ch", "d", "f", "g", "h", "j", "k", "l", "m", "mb", "n", "nd", "ng", "ny",
    "p", "s", "sh", "t", "th", "v", "w", "y", "z", "kw", "ph",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "a", "i", "o")
_FEMALE_ENDINGS = ("a", "i", "e", "ana", "ina", "ela", "isa", "eni")
_MALE_ENDINGS = ("o", "u", "an", "en", "ando", "umi", "esi", "ani")
_FAMILY_ENDINGS = ("we", "nga", "ndo", "mba", "zi", "ko", "la", "ri", "shi", "tu", "ye", "ni")
_PLACE_ENDINGS = ("la", "ni", "we", "ro", "nda", "ka", "mbo", "zi", "sa", "to", "ra", "ya")

#: The pool seed is a constant: every synthetic country speaks the same naming culture.
_POOL_SEED = 20_240_601

FAMILY_POOL_SIZE = 420
GIVEN_POOL_SIZE = 300

#: Spellings that clerks transliterate differently (pattern, variant).
TRANSLITERATIONS: tuple[tuple[str, str], ...] = (
    ("ch", "tch"),
    ("sh", "sch"),
    ("ph", "f"),
    ("kw", "qu"),
    ("k", "c"),
    ("y", "i"),
    ("w", "u"),
    ("ng", "n"),
)


def _syllable(rng: np.random.Generator) -> str:
    return str(rng.choice(_ONSETS)) + str(rng.choice(_VOWELS))


def _invent(rng: np.random.Generator, syllables: int, endings: tuple[str, ...]) -> str:
    body = "".join(_syllable(rng) for _ in range(syllables - 1))
    ending = str(rng.choice(endings))
    return (body + _syllable(rng) + ending).capitalize()


def _unique_names(
    rng: np.random.Generator, count: int, endings: tuple[str, ...], taken: set[str]
) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = _invent(rng, int(rng.integers(1, 4)), endings)
        if 3 <= len(name) <= 13 and name not in taken:
            taken.add(name)
            names.append(name)
    return names


@dataclass(frozen=True)
class NamePools:
    """Pools of invented names; index 0 is the most common name of each pool."""

    family: pl.Series
    female: pl.Series
    male: pl.Series


@lru_cache(maxsize=1)
def name_pools() -> NamePools:
    """The country's family and given name pools (the same for every seed)."""
    rng = np.random.default_rng(_POOL_SEED)
    taken: set[str] = set()
    family = _unique_names(rng, FAMILY_POOL_SIZE, _FAMILY_ENDINGS, taken)
    female = _unique_names(rng, GIVEN_POOL_SIZE, _FEMALE_ENDINGS, taken)
    male = _unique_names(rng, GIVEN_POOL_SIZE, _MALE_ENDINGS, taken)
    return NamePools(
        family=pl.Series("family", family),
        female=pl.Series("female", female),
        male=pl.Series("male", male),
    )


def zipf_draw(rng: np.random.Generator, pool_size: int, size: int, exponent: float) -> np.ndarray:
    """Draw ``size`` indices into a pool with Zipf-like frequencies (index 0 most common)."""
    weights = 1.0 / np.power(np.arange(pool_size) + 3.0, exponent)
    cumulative = np.cumsum(weights / weights.sum())
    cumulative[-1] = 1.0
    return np.searchsorted(cumulative, rng.random(size), side="right").astype(np.int64)


def place_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct invented place names."""
    taken = set(name_pools().family.to_list())
    return _unique_names(rng, count, _PLACE_ENDINGS, taken)
