"""`hubseg sandbox …`: generate, serve and advance the synthetic HubSpot portal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_STORE = Path(".hubseg/sandbox/portal.sqlite")
DEFAULT_PORT = 8765

app = typer.Typer(help="A local HubSpot-compatible API server with a synthetic portal.",
                  no_args_is_help=True)

StoreOpt = Annotated[Path, typer.Option("--store", help="The portal's SQLite file.")]


@app.command()
def generate(
    preset: Annotated[str, typer.Option(help="small (~1k contacts), demo (~10k) or large (1M).")]
    = "demo",
    seed: Annotated[int, typer.Option(help="Same seed and anchor → same portal.")] = 42,
    store: StoreOpt = DEFAULT_STORE,
    anchor: Annotated[str | None, typer.Option(
        help="The portal's 'today' (YYYY-MM-DD); default: today (UTC).")] = None,
    custom_properties: Annotated[int, typer.Option(
        help="Extra custom contact properties to add (e.g. 1000 for URL-limit tests).")] = 0,
) -> None:
    """Write a deterministic synthetic portal to STORE (replacing what is there)."""
    from sandbox.portal.generate import generate as run

    summary = run(store, preset=preset, seed=seed, anchor=anchor,
                  custom_properties=custom_properties)
    typer.echo(json.dumps(summary, indent=2))


@app.command()
def advance(
    days: Annotated[int, typer.Option(help="Simulated days of activity to add.")] = 1,
    store: StoreOpt = DEFAULT_STORE,
    change_rate: Annotated[float, typer.Option(
        help="Share of contacts modified per simulated day.")] = 0.01,
) -> None:
    """Simulate DAYS of portal activity; safe while `serve` is running on the same store."""
    from sandbox.portal.advance import advance as run

    summary = run(store, days=days, change_rate=change_rate)
    typer.echo(json.dumps(summary, indent=2))


@app.command()
def serve(
    store: StoreOpt = DEFAULT_STORE,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1; 0 picks a free one.")]
    = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    rate_limit: Annotated[str, typer.Option(
        help="off, starter (100/10 s), pro (190/10 s) or enterprise.")] = "off",
    faults: Annotated[str, typer.Option(
        help="Fault shares, e.g. '429=0.05,500=0.02,drop=0.01,slow=0.01'.")] = "",
    fault_seed: Annotated[int, typer.Option(help="Seed of the fault sequence.")] = 0,
    partial_failures: Annotated[str, typer.Option(
        help="Batch writes with bad inputs: 400 (whole batch) or 207 (per-input errors).")]
    = "400",
    search_lag_ms: Annotated[int, typer.Option(
        help="Delay before new or updated records appear in search.")] = 0,
) -> None:
    """Serve the portal over HTTP like api.hubapi.com; prints the base URL and token."""
    from sandbox.server.serve import run

    run(store=store, host=host, port=port, rate_limit=rate_limit, faults=faults,
        fault_seed=fault_seed, partial_failures=partial_failures, search_lag_ms=search_lag_ms)


@app.command()
def token(store: StoreOpt = DEFAULT_STORE) -> None:
    """Print the portal's private-app token (for HUBSPOT_ACCESS_TOKEN)."""
    from sandbox.portal.generate import portal_token

    typer.echo(portal_token(store))


@app.command()
def stats(store: StoreOpt = DEFAULT_STORE) -> None:
    """Print the portal's record counts (live and archived, events per type) as JSON."""
    from sandbox.portal.stats import portal_stats

    typer.echo(json.dumps(portal_stats(store), indent=2))
