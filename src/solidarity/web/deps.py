"""FastAPI dependencies shared by every router: the unit of work and the actor."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Header, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from solidarity.db.engine import session_factory


def get_engine_from_app(request: Request) -> Engine:
    """The engine the application was built with."""
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: commit on success, roll back on error."""
    session = session_factory(get_engine_from_app(request))()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def get_actor(x_actor: str | None = Header(default=None, include_in_schema=False)) -> str:
    """Who is acting. Until sign-in exists (governance issue) the caller names itself."""
    return x_actor or "api"
