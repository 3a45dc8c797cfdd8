"""The root ``solidarity`` command: it only mounts the domains' sub-apps."""

from __future__ import annotations

import typer

from solidarity.backup.cli import app as backup_app
from solidarity.cli import serve
from solidarity.coherence.cli import app as coherence_app
from solidarity.db.cli import app as db_app
from solidarity.governance.cli import audit_app, clients_app, governance_app, keys_app, users_app
from solidarity.grievances.cli import cases_app, grievances_app, referrals_app
from solidarity.interop.cli import app as interop_app
from solidarity.jobs.cli import app as jobs_app
from solidarity.linkage.cli import app as linkage_app
from solidarity.monitoring.cli import app as monitoring_app
from solidarity.programs.cli import app as programs_app
from solidarity.registry.cli import app as registry_app
from solidarity.rules.cli import app as rules_app
from solidarity.simulation.cli import app as simulation_app
from solidarity.synthetic.cli import app as synth_app

app = typer.Typer(no_args_is_help=True, help="Solidarity social protection information system.")
app.add_typer(db_app, name="db")
app.add_typer(backup_app, name="backup")
app.add_typer(coherence_app, name="coherence")
app.add_typer(registry_app, name="registry")
app.add_typer(jobs_app, name="jobs")
app.add_typer(interop_app, name="interop")
app.add_typer(linkage_app, name="linkage")
app.add_typer(programs_app, name="programs")
app.add_typer(rules_app, name="rules")
app.add_typer(grievances_app, name="grievances")
app.add_typer(cases_app, name="cases")
app.add_typer(referrals_app, name="referrals")
app.add_typer(simulation_app, name="simulate")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(synth_app, name="synth")
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(governance_app, name="governance")
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("demo")(serve.demo)

if __name__ == "__main__":  # pragma: no cover
    app()
