"""Rules of governance: accounts, grants, sign-in, client tokens. Flush, never commit.

Every change to accounts and grants, every sign-in (successful or not) and every
token issued is written to the audit trail in the same unit of work.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.db.base import utcnow
from solidarity.errors import ConflictError, NotFoundError, ValidationFailed
from solidarity.governance import audit, roles
from solidarity.governance.errors import AuthenticationFailed, InvalidToken, OAuthError
from solidarity.governance.keys import KeyStore
from solidarity.governance.models import AuthSession, RoleGrant, User
from solidarity.governance.passwords import (
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)
from solidarity.governance.principal import Grant, Principal
from solidarity.governance.repository import (
    AuditFilter,
    AuditRepository,
    AuthSessionRepository,
    UserRepository,
)
from solidarity.governance.schemas import (
    AuditEntryOut,
    AuditPage,
    GrantIn,
    GrantOut,
    UserOut,
)
from solidarity.governance.tokens import decode_access_token, issue_access_token
from solidarity.registry.history import aware


@lru_cache(maxsize=4)
def _dummy_hash(_cost: tuple[int, int]) -> str:
    return hash_password("not-a-real-password")


def _burn_time() -> None:
    # An unknown account costs as much as a wrong password: no timing hint.
    settings = get_settings()
    verify_password(_dummy_hash((settings.argon2_time_cost, settings.argon2_memory_kib)), "x")


def require_user(session: Session, username: str) -> User:
    """The account ``username``.

    Raises:
        NotFoundError: No such account.
    """
    user = UserRepository(session).by_username(username)
    if user is None:
        raise NotFoundError(f"account {username!r} not found")
    return user


def _check_password(password: str, username: str) -> None:
    problems = password_problems(password, username)
    if problems:
        raise ValidationFailed(
            "the password is too weak",
            [{"field": "password", "message": p} for p in problems],
        )


# --- accounts and grants ---------------------------------------------------------------


def _area_path(session: Session, area_code: str) -> str | None:
    from solidarity.registry import service as registry

    try:
        return registry.get_area(session, area_code).path
    except NotFoundError:
        return None


def grants_out(session: Session, user: User) -> list[GrantOut]:
    """The grants of ``user``."""
    return [GrantOut.model_validate(g) for g in UserRepository(session).grants(user.id)]


def user_out(session: Session, user: User) -> UserOut:
    """``user`` with its grants, for display."""
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        kind=user.kind,
        active=user.active,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
        agency_code=user.agency_code,
        grants=grants_out(session, user),
    )


def list_users(session: Session, kind: str | None = None) -> list[UserOut]:
    """Every account with its grants."""
    repo = UserRepository(session)
    users = repo.all(kind)
    by_user: dict[int, list[GrantOut]] = {}
    for grant in repo.grants_of([u.id for u in users]):
        by_user.setdefault(grant.user_id, []).append(GrantOut.model_validate(grant))
    return [
        user_out(session, u).model_copy(update={"grants": by_user.get(u.id, [])}) for u in users
    ]


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    password: str,
    actor: str,
    grants: Sequence[GrantIn] = (),
    kind: str = "person",
    agency_code: str | None = None,
    client_address: str | None = None,
) -> User:
    """Create an account (and its grants).

    Raises:
        ConflictError: The username is taken.
        ValidationFailed: The password is too weak, or a grant names an unknown role or area.
    """
    repo = UserRepository(session)
    if repo.by_username(username) is not None:
        raise ConflictError(f"account {username!r} already exists")
    if kind == "person":
        _check_password(password, username)
    user = repo.add(
        User(
            username=username,
            display_name=display_name,
            kind=kind,
            password_hash=hash_password(password),
            password_changed_at=utcnow(),
            agency_code=agency_code,
            created_by=actor,
            updated_by=actor,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="user.created",
        object_type="user",
        object_id=username,
        details={"kind": kind, "agency_code": agency_code},
        client_address=client_address,
    )
    for grant in grants:
        grant_role(session, username, grant, actor=actor, client_address=client_address)
    return user


def grant_role(
    session: Session,
    username: str,
    grant: GrantIn,
    *,
    actor: str,
    client_address: str | None = None,
) -> RoleGrant:
    """Give ``username`` a role over an area subtree (national without an area).

    Raises:
        NotFoundError: No such account.
        ValidationFailed: Unknown role or area.
    """
    user = require_user(session, username)
    errors = []
    if not roles.is_role(grant.role):
        errors.append(
            {"field": "role", "value": grant.role, "message": "unknown role: see roles.yaml"}
        )
    if grant.area_code is not None and _area_path(session, grant.area_code) is None:
        errors.append({"field": "area_code", "value": grant.area_code, "message": "unknown area"})
    if errors:
        raise ValidationFailed("the grant is not valid", errors)
    row = UserRepository(session).add_grant(
        RoleGrant(
            user_id=user.id,
            role=grant.role,
            area_code=grant.area_code,
            programme_codes=grant.programme_codes,
            created_by=actor,
            updated_by=actor,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="user.granted",
        object_type="user",
        object_id=username,
        details={
            "grant_id": row.id,
            "role": grant.role,
            "area_code": grant.area_code,
            "programme_codes": grant.programme_codes,
        },
        client_address=client_address,
    )
    return row


def revoke_grant(
    session: Session,
    username: str,
    grant_id: int,
    *,
    actor: str,
    client_address: str | None = None,
) -> None:
    """Take a grant away.

    Raises:
        NotFoundError: No such account, or the grant is not one of its grants.
    """
    user = require_user(session, username)
    repo = UserRepository(session)
    grant = repo.grant(grant_id)
    if grant is None or grant.user_id != user.id:
        raise NotFoundError(f"account {username!r} has no grant {grant_id}")
    details = {"grant_id": grant.id, "role": grant.role, "area_code": grant.area_code}
    repo.delete_grant(grant)
    audit.record(
        session,
        actor=actor,
        action="user.revoked",
        object_type="user",
        object_id=username,
        details=details,
        client_address=client_address,
    )


def reset_password(
    session: Session,
    username: str,
    password: str,
    *,
    actor: str,
    client_address: str | None = None,
) -> None:
    """Set a new password (an administrator's reset): unlocks and ends open sessions.

    Raises:
        NotFoundError: No such account.
        ValidationFailed: The password is too weak.
    """
    user = require_user(session, username)
    _check_password(password, username)
    now = utcnow()
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.failed_attempts = 0
    user.locked_until = None
    user.updated_by = actor
    AuthSessionRepository(session).end_all(user.id, now)
    audit.record(
        session,
        actor=actor,
        action="user.password_reset",
        object_type="user",
        object_id=username,
        client_address=client_address,
    )


def set_active(
    session: Session,
    username: str,
    active: bool,
    *,
    actor: str,
    client_address: str | None = None,
) -> User:
    """Enable or disable an account; disabling ends its sessions.

    Raises:
        NotFoundError: No such account.
    """
    user = require_user(session, username)
    user.active = active
    user.updated_by = actor
    if not active:
        AuthSessionRepository(session).end_all(user.id, utcnow())
    audit.record(
        session,
        actor=actor,
        action="user.enabled" if active else "user.disabled",
        object_type="user",
        object_id=username,
        client_address=client_address,
    )
    session.flush()
    return user


def create_client(
    session: Session,
    *,
    client_id: str,
    display_name: str,
    actor: str,
    grants: Sequence[GrantIn] = (GrantIn(role="partner"),),
    agency_code: str | None = None,
    client_address: str | None = None,
) -> tuple[User, str]:
    """Register a machine client; returns it and its secret (shown only once).

    Raises:
        ConflictError: The client id is taken.
        ValidationFailed: A grant names an unknown role or area.
    """
    secret = secrets.token_urlsafe(32)
    user = create_user(
        session,
        username=client_id,
        display_name=display_name,
        password=secret,
        actor=actor,
        grants=grants,
        kind="client",
        agency_code=agency_code,
        client_address=client_address,
    )
    return user, secret


# --- principals ------------------------------------------------------------------------


def principal_for(
    session: Session,
    user: User,
    *,
    method: str,
    client_address: str | None = None,
    scopes: frozenset[str] | None = None,
) -> Principal:
    """The principal of ``user``: its grants resolved to area paths and permissions.

    Args:
        session: The unit of work.
        user: The account.
        method: ``session``, ``token`` or ``cli``.
        client_address: Where the request came from.
        scopes: For a token, the permissions it carries (a subset of the account's).
    """
    grants = []
    for row in UserRepository(session).grants(user.id):
        path = None
        if row.area_code is not None:
            path = _area_path(session, row.area_code)
            if path is None:  # the area is gone: the grant covers nothing
                continue
        programmes = frozenset(row.programme_codes) if row.programme_codes is not None else None
        grants.append(Grant(row.role, row.area_code, path, programmes))
    permissions = frozenset().union(*(g.permissions for g in grants)) if grants else frozenset()
    if scopes is not None:
        permissions &= scopes
    return Principal(
        username=user.username,
        display_name=user.display_name,
        kind=user.kind,
        permissions=permissions | {roles.AUTHENTICATED},
        grants=tuple(grants),
        client_address=client_address,
        method=method,
        agency_code=user.agency_code,
    )


def cli_principal(session: Session, username: str) -> Principal:
    """The principal of a CLI user (``--user``); the operator vouches for who they are.

    Raises:
        NotFoundError: No such active account.
    """
    user = UserRepository(session).by_username(username)
    if user is None or not user.active:
        raise NotFoundError(f"no active account {username!r}")
    return principal_for(session, user, method="cli")


# --- sign-in ---------------------------------------------------------------------------


@dataclass
class SignIn:
    """A successful sign-in: the cookie value and the session's CSRF token."""

    user: User
    principal: Principal
    cookie: str
    csrf_token: str
    expires_at: datetime


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def _check_secret(
    session: Session,
    user: User | None,
    secret: str,
    *,
    kind: str,
    action: str,
    attempted: str,
    client_address: str | None,
    now: datetime,
) -> User | None:
    """The account when ``secret`` is right and it may sign in, else ``None`` (audited)."""
    settings = get_settings()
    reason = None
    if user is None or user.kind != kind:
        _burn_time()
        reason = "unknown account"
    elif not user.active:
        _burn_time()
        reason = "account disabled"
    elif user.locked_until is not None and aware(user.locked_until) > now:
        _burn_time()
        reason = "account locked"
    elif not verify_password(user.password_hash, secret):
        user.failed_attempts += 1
        reason = "wrong password"
        if user.failed_attempts >= settings.max_failed_logins:
            user.locked_until = now + timedelta(minutes=settings.lockout_minutes)
            user.failed_attempts = 0
            reason = "wrong password; account locked"
    if reason is not None:
        audit.record(
            session,
            actor=attempted,
            action=f"{action}_failed",
            object_type="user",
            object_id=attempted,
            details={"reason": reason},
            client_address=client_address,
            at=now,
        )
        session.flush()
        return None
    assert user is not None
    user.failed_attempts = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(secret)
    return user


def login(
    session: Session,
    keys: KeyStore,
    username: str,
    password: str,
    *,
    client_address: str | None = None,
    now: datetime | None = None,
) -> SignIn:
    """Check a password and open a session.

    Failed attempts are counted, and after ``max_failed_logins`` of them the
    account is locked for ``lockout_minutes``. The caller must commit even when
    this raises, so that the count and the audit entry are kept.

    Raises:
        AuthenticationFailed: Wrong password, unknown, disabled or locked account.
    """
    now = now or utcnow()
    user = _check_secret(
        session,
        UserRepository(session).by_username(username),
        password,
        kind="person",
        action="auth.login",
        attempted=username,
        client_address=client_address,
        now=now,
    )
    if user is None:
        raise AuthenticationFailed()
    return open_session(session, keys, user, client_address=client_address, now=now)


def open_session(
    session: Session,
    keys: KeyStore,
    user: User,
    *,
    client_address: str | None = None,
    now: datetime | None = None,
    details: dict[str, str] | None = None,
) -> SignIn:
    """Open a browser session for ``user``, already authenticated (password or SSO)."""
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=get_settings().session_hours)
    AuthSessionRepository(session).add(
        AuthSession(
            token_hash=_token_hash(raw),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
            client_address=client_address,
        )
    )
    user.last_login_at = now
    audit.record(
        session,
        actor=user.username,
        action="auth.login",
        object_type="user",
        object_id=user.username,
        client_address=client_address,
        details=details,
        at=now,
    )
    principal = principal_for(session, user, method="session", client_address=client_address)
    return SignIn(user, principal, f"{raw}.{keys.sign(raw, 'session')}", csrf, expires)


def session_for_cookie(
    session: Session, keys: KeyStore, cookie: str, now: datetime | None = None
) -> tuple[AuthSession, User] | None:
    """The open session and account a cookie stands for, if it is genuine and current."""
    raw, _, signature = cookie.partition(".")
    if not raw or not hmac.compare_digest(signature, keys.sign(raw, "session")):
        return None
    row = AuthSessionRepository(session).by_token_hash(_token_hash(raw))
    now = now or utcnow()
    if row is None or row.ended_at is not None or aware(row.expires_at) <= now:
        return None
    user = UserRepository(session).by_id(row.user_id)
    if user is None or not user.active:
        return None
    return row, user


def logout(session: Session, auth_session: AuthSession, principal: Principal) -> None:
    """End a session."""
    auth_session.ended_at = utcnow()
    audit.record(
        session,
        actor=principal.username,
        action="auth.logout",
        object_type="user",
        object_id=principal.username,
        client_address=principal.client_address,
    )
    session.flush()


# --- machine clients -------------------------------------------------------------------


def issue_client_token(
    session: Session,
    keys: KeyStore,
    *,
    client_id: str,
    client_secret: str,
    scope: str | None,
    client_address: str | None = None,
) -> tuple[str, int, list[str]]:
    """OAuth 2.0 client credentials: check the client and sign a short-lived token.

    Returns:
        The token, its lifetime in seconds and the scopes it carries.

    Raises:
        OAuthError: ``invalid_client`` (401) or ``invalid_scope`` (400). The caller
            must commit even then, to keep the failure count and the audit entry.
    """
    settings = get_settings()
    now = utcnow()
    user = _check_secret(
        session,
        UserRepository(session).by_username(client_id),
        client_secret,
        kind="client",
        action="oauth.token",
        attempted=client_id,
        client_address=client_address,
        now=now,
    )
    if user is None:
        raise OAuthError("invalid_client", "client authentication failed", 401)
    principal = principal_for(session, user, method="token")
    held = principal.permissions - {roles.AUTHENTICATED}
    requested = set(scope.split()) if scope else set(held)
    if not requested <= held:
        raise OAuthError(
            "invalid_scope",
            f"the client may not request: {' '.join(sorted(requested - held))}",
        )
    scopes = sorted(requested)
    token, _expires = issue_access_token(
        keys,
        subject=user.username,
        scopes=scopes,
        issuer=settings.token_issuer,
        minutes=settings.token_minutes,
        now=now,
    )
    audit.record(
        session,
        actor=user.username,
        action="oauth.token_issued",
        object_type="client",
        object_id=user.username,
        details={"scope": scopes, "expires_in": settings.token_minutes * 60},
        client_address=client_address,
        at=now,
    )
    return token, settings.token_minutes * 60, scopes


def principal_for_token(
    session: Session, keys: KeyStore, token: str, client_address: str | None = None
) -> Principal:
    """The principal a bearer token stands for.

    Raises:
        InvalidToken: The token is not valid, or its client is gone or disabled.
    """
    claims = decode_access_token(keys, token, issuer=get_settings().token_issuer)
    user = UserRepository(session).by_username(str(claims["sub"]))
    if user is None or not user.active or user.kind != "client":
        raise InvalidToken("the client of this token is unknown or disabled")
    scopes = frozenset(str(claims.get("scope", "")).split())
    return principal_for(
        session, user, method="token", client_address=client_address, scopes=scopes
    )


# --- audit trail ---------------------------------------------------------------------


def start_of(text: str | None) -> datetime | None:
    """The instant a ``since`` bound stands for: a date is the start of that day (UTC).

    Raises:
        ValidationFailed: Not a date or an ISO 8601 datetime.
    """
    if not text:
        return None
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            f"{text!r} is not a date or datetime",
            [{"field": "since", "value": text, "message": "use YYYY-MM-DD or ISO 8601"}],
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def search_audit(session: Session, criteria: AuditFilter, limit: int, offset: int) -> AuditPage:
    """A page of audit entries matching ``criteria``, newest first, chained first.

    An auditor sees every entry with its place in the chain: entries not chained
    yet are chained in the caller's unit of work before the page is read.
    """
    audit.chain_pending(session)
    rows, total = AuditRepository(session).search(criteria, limit, offset)
    return AuditPage(
        items=[AuditEntryOut.model_validate(r) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


# --- demo ------------------------------------------------------------------------------


def ensure_demo_users(session: Session) -> list[tuple[str, str, str, str]]:
    """One account per role for the demo (created once; existing accounts are kept).

    The registration officer and the supervisor are scoped to the first district
    (the first area of level 1), the others are national.

    Returns:
        (username, password, role, scope) of each demo account.
    """
    from solidarity.registry import service as registry

    districts = registry.list_areas(session, level=1)
    district = districts[0].code if districts else None
    accounts = []
    for role in roles.roles():
        if role == "partner":
            continue
        scoped = role in {"registration_officer", "supervisor"} and district is not None
        area = district if scoped else None
        username = role.replace("_", ".")
        initials = "".join(word[0] for word in role.split("_"))
        password = f"demo-{initials}-2025!"
        if UserRepository(session).by_username(username) is None:
            create_user(
                session,
                username=username,
                display_name=f"Demo {role.replace('_', ' ')}",
                password=password,
                actor="demo",
                grants=[GrantIn(role=role, area_code=area)],
            )
        accounts.append((username, password, role, area or "national"))
    return accounts
