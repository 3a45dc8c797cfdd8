"""The root ``solidarity`` command: it only mounts the domains' sub-apps."""

from __future__ import annotations

import typer

from solidarity.db.cli import app as db_app
from solidarity.registry.cli import app as registry_app

app = typer.Typer(no_args_is_help=True, help="Solidarity social protection information system.")
app.add_typer(db_app, name="db")
app.add_typer(registry_app, name="registry")

if __name__ == "__main__":  # pragma: no cover
    app()
