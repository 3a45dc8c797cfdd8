"""The synthetic country: a reproducible, realistic population for demos, tests and benchmarks.

``generate`` writes areas, households, persons, programmes, each ministry's own
beneficiary list (with the typos and duplicates such lists really carry),
programme journeys and the ground truth needed to score linkage and targeting.
"""

from __future__ import annotations

from solidarity.errors import SolidarityError


class SyntheticError(SolidarityError):
    """The synthetic country cannot be generated with the parameters given."""
