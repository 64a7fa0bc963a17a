"""`hubseg report`: one self-contained HTML page from the PUBLISHED warehouse.

Self-contained means it opens from a file, offline, forever: plotly.js is inlined once in the
head and every chart is a `<figure class="chart" data-chart="…">` holding a plotly div. It
shows aggregates only (segment sizes, campaign rates, run statuses): no contact, email address
or name ever reaches the page.

Sections: the last runs; segment sizes today and over time; entries and exits per segment at
the last run; campaign performance; campaign × segment click rates, with the best and worst
segments of the latest campaigns.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from hubseg.nightly.publish import open_published

RECENT_CAMPAIGNS = 12
HEATMAP_CAMPAIGNS = 10
MIN_DELIVERED = 20  # a segment's rate on fewer delivered messages is noise, not a finding
TOP_SEGMENTS_OVER_TIME = 12

Rows = list[dict[str, Any]]


def query(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> Rows:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# -- the numbers ------------------------------------------------------------------------------

def segment_sizes(con: duckdb.DuckDBPyConnection) -> Rows:
    return query(con, "select segment_key, segment_label, segment_category, member_count, "
                      "share_of_contacts, as_of_date from marts.segments "
                      "order by member_count desc, segment_key")


def sizes_over_time(con: duckdb.DuckDBPyConnection) -> Rows:
    """Members per segment on every day the history changed (one point per recorded day)."""
    return query(con, """
        with history as (select * from marts.segment_membership_history),
        days as (
            select valid_from as day from history
            union select valid_to from history where valid_to is not null
        )
        select days.day, history.segment_key, count(*) as members
        from days
        join history
          on history.valid_from <= days.day
         and (history.valid_to is null or history.valid_to > days.day)
        group by 1, 2 order by 1, 2""")


def entries_and_exits(con: duckdb.DuckDBPyConnection) -> Rows:
    """Per segment: who entered and who left on the last run's as-of date."""
    return query(con, """
        with last_day as (select max(as_of_date) as day from marts.segments)
        select segments.segment_key, segments.segment_label,
               count(*) filter (where history.valid_from = last_day.day) as entries,
               count(*) filter (where history.valid_to = last_day.day) as exits
        from marts.segments
        cross join last_day
        left join marts.segment_membership_history as history
          on history.segment_key = segments.segment_key
        group by 1, 2 order by entries + exits desc, 1""")


def recent_campaigns(con: duckdb.DuckDBPyConnection, limit: int = RECENT_CAMPAIGNS) -> Rows:
    return query(con, """
        select campaign_id, coalesce(campaign_name, campaign_id::varchar) as campaign_name,
               sends, delivered, unique_opens, unique_clicks, open_rate, click_rate,
               click_to_open_rate, unsubscribe_rate, conversions, influenced_revenue,
               last_sent_at
        from marts.campaign_performance
        where sends > 0
        order by last_sent_at desc nulls last, campaign_id
        limit ?""", [limit])


def campaign_segment_rates(con: duckdb.DuckDBPyConnection, campaigns: int = HEATMAP_CAMPAIGNS
                           ) -> Rows:
    return query(con, """
        with latest as (
            select campaign_id from marts.campaign_performance where sends > 0
            order by last_sent_at desc nulls last, campaign_id limit ?
        )
        select perf.campaign_id,
               coalesce(campaigns.campaign_name, perf.campaign_id::varchar) as campaign_name,
               perf.segment_key, perf.delivered, perf.click_rate, perf.membership_basis
        from marts.campaign_segment_performance as perf
        join latest on perf.campaign_id = latest.campaign_id
        left join marts.campaign_performance as campaigns
          on perf.campaign_id = campaigns.campaign_id
        where perf.delivered >= ?
        order by 1, 3""", [campaigns, MIN_DELIVERED])


def segment_rankings(con: duckdb.DuckDBPyConnection, campaigns: int = 5) -> Rows:
    """Segments ranked by click rate over the latest campaigns (enough deliveries only)."""
    return query(con, """
        with latest as (
            select campaign_id from marts.campaign_performance where sends > 0
            order by last_sent_at desc nulls last, campaign_id limit ?
        )
        select perf.segment_key, sum(perf.delivered) as delivered,
               sum(perf.unique_clicks) as unique_clicks,
               sum(perf.unique_clicks) / nullif(sum(perf.delivered), 0) as click_rate
        from marts.campaign_segment_performance as perf
        join latest on perf.campaign_id = latest.campaign_id
        group by 1 having sum(perf.delivered) >= ?
        order by click_rate desc, 1""", [campaigns, MIN_DELIVERED])


def recent_runs(con: duckdb.DuckDBPyConnection, limit: int = 10) -> Rows:
    return query(con, "select run_id, started_at, ended_at, status, extract_status, "
                      "build_status, sync_status, publish_status, rows_loaded, models_built, "
                      "tests_passed, tests_failed, contacts_synced, api_calls "
                      "from nightly.runs order by started_at desc limit ?", [limit])


def publication(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    rows = query(con, "select run_id, max(published_at) as published_at "
                      "from nightly.publication group by 1")
    return rows[0] if rows else {}


# -- the charts -------------------------------------------------------------------------------

def _layout(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=title, height=height, margin={"l": 60, "r": 20, "t": 50, "b": 60},
                      template="plotly_white", legend={"orientation": "h", "y": -0.2})
    return fig


def chart_segment_sizes(rows: Rows) -> go.Figure:
    ordered = sorted(rows, key=lambda r: r["member_count"])
    fig = go.Figure(go.Bar(x=[r["member_count"] for r in ordered],
                           y=[r["segment_label"] for r in ordered], orientation="h",
                           marker_color="#3b82f6"))
    return _layout(fig, "Segment sizes today (contacts)", height=max(420, 18 * len(rows)))


def chart_sizes_over_time(rows: Rows, sizes: Rows) -> go.Figure:
    top = [r["segment_key"] for r in sizes[:TOP_SEGMENTS_OVER_TIME]]
    fig = go.Figure()
    for key in top:
        points = [r for r in rows if r["segment_key"] == key]
        fig.add_trace(go.Scatter(x=[str(p["day"]) for p in points],
                                 y=[p["members"] for p in points], mode="lines+markers",
                                 name=key))
    fig.update_xaxes(type="category")  # one point per recorded day, however few
    return _layout(fig, f"Segment sizes over time (largest {len(top)} segments)")


def chart_entries_exits(rows: Rows) -> go.Figure:
    moved = [r for r in rows if r["entries"] or r["exits"]] or rows
    fig = go.Figure([
        go.Bar(x=[r["segment_label"] for r in moved], y=[r["entries"] for r in moved],
               name="entered", marker_color="#16a34a"),
        go.Bar(x=[r["segment_label"] for r in moved], y=[-r["exits"] for r in moved],
               name="left", marker_color="#dc2626"),
    ])
    fig.update_layout(barmode="relative")
    return _layout(fig, "Entries and exits per segment at the last run")


def chart_campaigns(rows: Rows) -> go.Figure:
    names = [r["campaign_name"] for r in reversed(rows)]
    fig = go.Figure([
        go.Bar(x=names, y=[r["open_rate"] for r in reversed(rows)], name="open rate"),
        go.Bar(x=names, y=[r["click_rate"] for r in reversed(rows)], name="click rate"),
    ])
    fig.update_layout(barmode="group", yaxis_tickformat=".0%")
    return _layout(fig, "Latest campaigns: open and click rates (over delivered)")


def chart_campaign_segments(rows: Rows) -> go.Figure:
    campaigns = list(dict.fromkeys(r["campaign_name"] for r in rows))
    segments = sorted({r["segment_key"] for r in rows})
    rate = {(r["campaign_name"], r["segment_key"]): r["click_rate"] for r in rows}
    fig = go.Figure(go.Heatmap(
        x=segments, y=campaigns, colorscale="Blues", colorbar={"tickformat": ".0%"},
        z=[[rate.get((c, s)) for s in segments] for c in campaigns], hoverongaps=False))
    return _layout(fig, f"Click rate per segment and campaign (≥{MIN_DELIVERED} delivered)",
                   height=max(420, 28 * len(campaigns) + 160))


# -- the page ---------------------------------------------------------------------------------

@dataclass
class Section:
    title: str
    intro: str
    charts: list[tuple[str, go.Figure]]
    table: str = ""


def _figure(name: str, fig: go.Figure) -> str:
    div = fig.to_html(full_html=False, include_plotlyjs=False,
                      config={"displaylogo": False, "responsive": True})
    return f'<figure class="chart" data-chart="{html.escape(name)}">{div}</figure>'


def html_table(rows: Rows, columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p class='empty'>No rows.</p>"
    columns = list(columns or rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(c), c))}</td>"
                                    for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object, column: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        is_share = column.endswith("rate") or column.startswith("share")
        return f"{value:.1%}" if is_share else f"{value:,.2f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def build_sections(con: duckdb.DuckDBPyConnection) -> list[Section]:
    sizes = segment_sizes(con)
    moves = entries_and_exits(con)
    campaigns = recent_campaigns(con)
    matrix = campaign_segment_rates(con)
    ranking = segment_rankings(con)
    best_worst = ranking[:5] + [r for r in ranking[-5:] if r not in ranking[:5]]
    return [
        Section("Nightly runs", "The latest runs, newest first.", [],
                html_table(recent_runs(con))),
        Section("Segments", "How many contacts each segment holds today, and how that moved "
                "on every day the segment history recorded.",
                [("segment-sizes", chart_segment_sizes(sizes)),
                 ("segments-over-time", chart_sizes_over_time(sizes_over_time(con), sizes))],
                html_table(sizes, ["segment_key", "segment_label", "segment_category",
                                   "member_count", "share_of_contacts"])),
        Section("Entries and exits", "Contacts who entered or left each segment at the last "
                "run (on the first run every member counts as an entry).",
                [("entries-exits", chart_entries_exits(moves))], html_table(moves)),
        Section("Campaigns", "The latest campaigns; rates are over delivered messages.",
                [("campaigns", chart_campaigns(campaigns))],
                html_table(campaigns, ["campaign_name", "sends", "delivered", "open_rate",
                                       "click_rate", "click_to_open_rate", "unsubscribe_rate",
                                       "conversions", "influenced_revenue"])),
        Section("Campaigns × segments", "Click rate of each segment in the latest campaigns "
                "(membership at send time). Best and worst segments over the last 5 campaigns:",
                [("campaign-segments", chart_campaign_segments(matrix))],
                html_table(best_worst)),
    ]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#111827;
background:#f8fafc}header{background:#1e3a8a;color:#fff;padding:24px 40px}
main{padding:8px 40px 40px;max-width:1400px}section{background:#fff;border-radius:8px;
box-shadow:0 1px 3px #0002;margin:24px 0;padding:16px 24px}figure{margin:0}
table{border-collapse:collapse;font-size:13px;margin-top:12px;width:100%}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f1f5f9}
.kpis{display:flex;gap:32px;margin-top:8px}.kpi b{display:block;font-size:24px}
"""


def render(sections: list[Section], meta: dict[str, Any]) -> str:
    body = "".join(
        f"<section><h2>{html.escape(s.title)}</h2><p>{html.escape(s.intro)}</p>"
        + "".join(_figure(name, fig) for name, fig in s.charts) + s.table + "</section>"
        for s in sections)
    kpis = "".join(f"<div class='kpi'><b>{html.escape(_cell(v))}</b>{html.escape(k)}</div>"
                   for k, v in meta.items())
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>hubseg report</title><style>{_CSS}</style>"
            f"<script>{get_plotlyjs()}</script></head><body>"
            f"<header><h1>hubseg — segments and campaigns</h1><div class='kpis'>{kpis}</div>"
            f"</header><main>{body}</main></body></html>")


def write_report(published: Path, output: Path) -> Path:
    """Read the published warehouse (read-only) and write the page atomically."""
    with open_published(published) as con:
        sections = build_sections(con)
        pub = publication(con)
        sizes = segment_sizes(con)
    meta = {"published by run": pub.get("run_id", "?"),
            "published at (UTC)": pub.get("published_at", "?"),
            "segments": len(sizes),
            "as of": str(sizes[0]["as_of_date"]) if sizes else "?",
            "report written (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M")}
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(render(sections, meta), encoding="utf-8")
    tmp.replace(output)
    return output
