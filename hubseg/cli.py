"""The `hubseg` command: one entry point whose subcommands follow the data flow."""

import typer

from hubseg.nightly.cli import nightly_command, report_command
from pipelines.extract import extract_command
from reverse_etl.cli import sync_command
from sandbox.cli import app as sandbox_app

app = typer.Typer(
    help="HubSpot → DuckDB segments warehouse: sandbox, extract, model, sync, nightly.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(sandbox_app, name="sandbox")
app.command("extract")(extract_command)
app.command("sync")(sync_command)
app.command("nightly")(nightly_command)
app.command("report")(report_command)


@app.command()
def demo() -> None:
    """Run the whole loop on the embedded default: the `demo` sandbox portal and DuckDB."""
    from hubseg.demo import run_demo

    run_demo()
