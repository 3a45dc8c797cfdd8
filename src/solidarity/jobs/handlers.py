"""The one place that registers every domain's job handlers.

Importing a domain's handler module has no side effect; :func:`register_all`
names each ``kind`` and its handler here, so the list of job kinds reads in one
file. Each handler owns its transactions (see :mod:`solidarity.jobs.service`).
"""

from __future__ import annotations

from solidarity.jobs.service import register_handler

#: Job kind of a bulk household/person import (``POST /api/v1/imports``).
REGISTRY_IMPORT = "registry.import"


def register_all() -> None:
    """Register the handler of every job kind Solidarity knows."""
    from solidarity.grievances.jobs import run_escalation
    from solidarity.interop.delivery import JOB_KIND as INTEROP_DELIVER
    from solidarity.interop.delivery import run_delivery_job
    from solidarity.jobs.schedule import GRIEVANCE_ESCALATION
    from solidarity.linkage.job import run_dedupe
    from solidarity.programs import jobs as programs_jobs
    from solidarity.registry.imports_router import run_import

    register_handler(REGISTRY_IMPORT, run_import)
    register_handler("linkage.dedupe", run_dedupe)
    register_handler(INTEROP_DELIVER, run_delivery_job)
    register_handler(programs_jobs.ENROL, programs_jobs.run_enrolment)
    register_handler(programs_jobs.ENTITLEMENTS, programs_jobs.run_entitlements)
    register_handler(GRIEVANCE_ESCALATION, run_escalation)
    from solidarity.monitoring import jobs as monitoring_jobs
    from solidarity.simulation import jobs as simulation_jobs

    register_handler(monitoring_jobs.SNAPSHOT, monitoring_jobs.run_snapshot)
    register_handler(simulation_jobs.RUN, simulation_jobs.run_scenarios)
    register_handler(simulation_jobs.SOLVE, simulation_jobs.run_solve)
