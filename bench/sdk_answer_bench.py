"""Client CPU of one contacts batch update made with HubSpot's SDK, two ways.

    .venv/bin/python bench/sdk_answer_bench.py     # ~1 minute: a `small` portal, limits off

`models`: the SDK's defaults, as the sync made them before 62a051b (the answer turned into
model objects, whose timestamps dateutil parses; a default configuration copied per input).
`json`: what `reverse_etl/contacts_api.py` does now (`_preload_content=False`, the answer parsed
as JSON, one shared configuration). Batches of 100 `jobtitle` updates are sent one after another
against the sandbox; recorded: this process's CPU milliseconds per batch and batches per second
(medians of 5 rounds). Results: `bench/results/sdk-answer.json` and `.md`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubspot import HubSpot  # noqa: E402
from hubspot.crm.contacts import (  # noqa: E402
    BatchInputSimplePublicObjectBatchInput,
    Configuration,
    SimplePublicObjectBatchInput,
)

from bench.sync_bench import generate, live_contact_ids  # noqa: E402
from sandbox.server.process import start_server  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BATCHES, ROUNDS = 40, 5


def send_batches(api: Any, ids: list[str], raw: bool) -> None:
    shared = {"local_vars_configuration": Configuration()} if raw else {}
    for i in range(BATCHES):
        inputs = [SimplePublicObjectBatchInput(id=c, properties={"jobtitle": f"t{i}"}, **shared)
                  for c in ids[i * 100:(i + 1) * 100]]
        body = BatchInputSimplePublicObjectBatchInput(inputs=inputs, **shared)
        if raw:
            response = api.update_with_http_info(body, _preload_content=False)
            json.loads(response.data)
        else:
            api.update_with_http_info(body)


def measure(api: Any, ids: list[str], raw: bool) -> dict[str, float]:
    cpu, rate = [], []
    for _ in range(ROUNDS):
        wall, started = time.monotonic(), time.process_time()
        send_batches(api, ids, raw)
        cpu.append((time.process_time() - started) * 1000 / BATCHES)
        rate.append(BATCHES / (time.monotonic() - wall))
    return {"client_cpu_ms_per_batch": round(statistics.median(cpu), 1),
            "batches_per_s": round(statistics.median(rate), 1)}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "small.sqlite"
        generate("small", 42, store)
        ids = live_contact_ids(store)[:BATCHES * 100]
        server = start_server(store)
        try:
            api = HubSpot(access_token=server.token, host=server.base_url).crm.contacts.batch_api
            send_batches(api, ids, raw=True)  # warm the connection and the sandbox's caches
            result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      "batches": BATCHES, "rounds": ROUNDS,
                      "models": measure(api, ids, raw=False), "json": measure(api, ids, raw=True)}
        finally:
            server.process.kill()
    (RESULTS / "sdk-answer.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# SDK answer parsing: client CPU per batch update", "",
             f"Produced by `bench/sdk_answer_bench.py` ({result['date']}; method in its "
             "docstring). Sequential batch updates of 100 contacts against a `small` sandbox.",
             "", "| way | client CPU ms per batch | batches per second |", "|---|---:|---:|"]
    lines += [f"| {way} | {result[way]['client_cpu_ms_per_batch']} | "
              f"{result[way]['batches_per_s']} |" for way in ("models", "json")]
    (RESULTS / "sdk-answer.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
