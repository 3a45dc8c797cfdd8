"""The web application: server-rendered pages (Jinja2 + htmx) over the domains' services.

One module per area: ``account`` (sign-in, sign-out, language, account),
``registry`` (search, households, change requests), ``imports`` (the import
wizard), ``programmes`` (rules, preview, explain, cycles), ``linkage`` (the
duplicate review queue), ``coherence`` (the diagnostics dashboard), ``grievances``
(intake, inbox, workflow), ``cases`` (caseload, case), ``referrals`` (worklist,
sending, the receiving agency's view), ``monitoring`` (indicators and data quality)
and ``simulation`` (reform scenarios and the budget solver). See docs/web.md.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI


def install_pages(app: FastAPI) -> None:
    """Add the page routers, the open sign-in routes and the page error handling to ``app``."""
    from solidarity.web.pages import (
        account,
        cases,
        coherence,
        grievances,
        imports,
        linkage,
        programmes,
        referrals,
        registry,
    )
    from solidarity.web.pages.common import remember_csrf
    from solidarity.web.pages.errors import PageErrors

    for module in (account, registry, imports, programmes, linkage, coherence):
        app.include_router(module.router, dependencies=[Depends(remember_csrf)])
    from solidarity.web.pages import monitoring, simulation

    for module in (grievances, cases, referrals, monitoring, simulation):
        app.include_router(module.router, dependencies=[Depends(remember_csrf)])
    app.router.routes.extend(account.PUBLIC_PAGE_ROUTES)
    app.add_middleware(PageErrors)
