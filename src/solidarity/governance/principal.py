"""Who is acting: an authenticated account with its permissions and scopes."""

from __future__ import annotations

from dataclasses import dataclass, replace

from solidarity.governance.roles import PII_NAMES, permissions_of


@dataclass(frozen=True)
class Grant:
    """One role held over an area subtree (``area_path`` ``None``: national)."""

    role: str
    area_code: str | None
    area_path: str | None
    programmes: frozenset[str] | None = None

    @property
    def permissions(self) -> frozenset[str]:
        """The permissions of the role."""
        return permissions_of(self.role)


def _narrowest(paths: set[str]) -> tuple[str, ...]:
    # Drop paths inside another granted path: "/R01/" covers "/R01/R01-D02/".
    ordered = sorted(paths, key=len)
    kept: list[str] = []
    for path in ordered:
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))


@dataclass(frozen=True)
class Principal:
    """An authenticated account as the API sees it.

    Attributes:
        username: The account (a client id for machine clients).
        display_name: How to show the account.
        kind: ``person`` or ``client``.
        permissions: Everything the account may do somewhere.
        grants: The grants behind the permissions.
        area_paths: Area path prefixes of the permission being exercised;
            ``None`` means national.
        programmes: Programme codes of that permission; ``None`` means all.
        client_address: Where the request came from (for the audit trail).
        method: ``session`` (cookie), ``token`` (bearer) or ``cli``.
        agency_code: The agency a machine client acts for.
        permission: The permission this principal was narrowed to, if any.
    """

    username: str
    display_name: str
    kind: str
    permissions: frozenset[str]
    grants: tuple[Grant, ...]
    area_paths: tuple[str, ...] | None = None
    programmes: frozenset[str] | None = None
    client_address: str | None = None
    method: str = "session"
    agency_code: str | None = None
    permission: str | None = None

    @property
    def roles(self) -> frozenset[str]:
        """Roles held, wherever."""
        return frozenset(g.role for g in self.grants)

    @property
    def national(self) -> bool:
        """Whether the current permission is held nationally."""
        return self.area_paths is None

    @property
    def pseudonymised(self) -> bool:
        """Whether persons are shown to this account under pseudonyms."""
        return PII_NAMES not in self.permissions

    def has(self, permission: str) -> bool:
        """Whether the account holds ``permission`` somewhere."""
        return permission in self.permissions

    def scoped_to(self, permission: str) -> Principal:
        """This principal narrowed to the areas and programmes where it holds ``permission``."""
        holding = [g for g in self.grants if permission in g.permissions]
        area_paths: tuple[str, ...] | None
        if not holding or any(g.area_path is None for g in holding):
            area_paths = None if holding else ()
        else:
            area_paths = _narrowest({g.area_path for g in holding if g.area_path})
        programmes: frozenset[str] | None
        if not holding or any(g.programmes is None for g in holding):
            programmes = None if holding else frozenset()
        else:
            programmes = frozenset().union(*(g.programmes or frozenset() for g in holding))
        return replace(self, area_paths=area_paths, programmes=programmes, permission=permission)

    def covers_path(self, path: str | None) -> bool:
        """Whether an area with materialised ``path`` is inside the current scope."""
        if self.area_paths is None:
            return True
        return path is not None and any(path.startswith(p) for p in self.area_paths)
