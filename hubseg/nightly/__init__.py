"""`hubseg nightly`: extract → dbt build → sync as one run, published atomically for BI.

Modules, one job each: `layout` (where every file lives), `lock` (one nightly at a time),
`steps` (running extract, dbt and the sync as child processes), `dbt_results` (reading dbt's
run_results.json), `publish` (the read-only copy BI opens, swapped in by rename), `history`
(the run table and the JSON summary), `run` (the orchestration and exit codes), `report`
(the HTML report), `local` (the same loop against a local sandbox: demo, tests, benchmark),
`cli` (the commands). Captured logs are scrubbed by `hubseg.redact`.
"""
