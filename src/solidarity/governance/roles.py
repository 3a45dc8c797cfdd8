"""Roles and permissions, read from ``roles.yaml`` beside this module."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

ROLES_FILE = Path(__file__).with_name("roles.yaml")

#: Pseudo-permission every signed-in account holds (``/auth/me``, ``/auth/logout``).
AUTHENTICATED = "authenticated"
#: Field permissions: without them the matching fields are hidden or pseudonymised.
PII_NAMES = "pii.names"
PII_IDENTIFIERS = "pii.identifiers"
PII_CONTACT = "pii.contact"
PII_HEALTH = "pii.health"


@lru_cache(maxsize=1)
def _catalogue() -> tuple[dict[str, str], dict[str, tuple[str, frozenset[str]]]]:
    data = yaml.safe_load(ROLES_FILE.read_text(encoding="utf-8"))
    permissions: dict[str, str] = dict(data["permissions"])
    roles: dict[str, tuple[str, frozenset[str]]] = {}
    for name, role in data["roles"].items():
        granted = frozenset(role["permissions"])
        unknown = granted - permissions.keys()
        if unknown:  # a typo in the file must not silently grant nothing
            raise ValueError(f"role {name!r} names unknown permissions: {sorted(unknown)}")
        roles[name] = (role.get("description", ""), granted)
    return permissions, roles


def permissions() -> dict[str, str]:
    """Every permission and what it allows."""
    return dict(_catalogue()[0])


def roles() -> dict[str, frozenset[str]]:
    """Every role and its permissions."""
    return {name: granted for name, (_d, granted) in _catalogue()[1].items()}


def role_description(role: str) -> str:
    """What a role is for."""
    return _catalogue()[1][role][0]


def permissions_of(role: str) -> frozenset[str]:
    """The permissions of ``role`` (empty for an unknown role)."""
    entry = _catalogue()[1].get(role)
    return entry[1] if entry else frozenset()


def is_role(name: str) -> bool:
    """Whether ``name`` is a defined role."""
    return name in _catalogue()[1]
