"""The `hubseg` command: one entry point whose subcommands follow the data flow."""

import typer

from sandbox.cli import app as sandbox_app

app = typer.Typer(
    help="HubSpot → DuckDB segments warehouse: sandbox, extract, model, sync, nightly.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(sandbox_app, name="sandbox")
