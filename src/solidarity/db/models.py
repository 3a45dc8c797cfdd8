"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic)."""

from solidarity.coherence import models as coherence_models
from solidarity.governance import models as governance_models
from solidarity.grievances import models as grievances_models
from solidarity.interop import models as interop_models
from solidarity.jobs import models as jobs_models
from solidarity.linkage import models as linkage_models
from solidarity.monitoring import models as monitoring_models
from solidarity.programs import models as programs_models
from solidarity.registry import models as registry_models
from solidarity.simulation import models as simulation_models

__all__ = [
    "coherence_models",
    "governance_models",
    "grievances_models",
    "interop_models",
    "jobs_models",
    "linkage_models",
    "monitoring_models",
    "programs_models",
    "registry_models",
    "simulation_models",
]
