"""Benchmark: importing the national directory and searching it.

Run: LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/directory.py
(DATABASE_URL selects PostgreSQL; the default is a fresh SQLite file.)

Prints absolute figures and, because this machine is noisy, ratios measured in
the same run: a search against the plain listing of the same page size, and an
idempotent re-import against the first import.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from lienthong.directory import selectors, services  # noqa: E402

QUERIES = [
    "ha noi",
    "Hà Nội",
    "HA NOI",
    "hoan kiem",
    "xa lam binh",
    "dak lak",
    "phuong",
    "so tu phap",
]
ROUNDS = 30


def timed(fn, rounds=ROUNDS) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.2f} ms, p95 {sorted(samples)[int(len(samples) * 0.95) - 1] * 1000:7.2f} ms"


def main() -> None:
    call_command("migrate", verbosity=0)
    print(f"database: {connection.vendor}, Python {sys.version.split()[0]}")

    data, source = services.package_units_source()
    rows = services.parse_units(data)
    start = time.perf_counter()
    first = services.import_units(actor="bench", rows=rows, source=source)
    units_first = time.perf_counter() - start
    start = time.perf_counter()
    services.import_agencies(actor="bench")
    agencies_first = time.perf_counter() - start
    start = time.perf_counter()
    again = services.import_units(actor="bench", rows=rows, source=source)
    units_again = time.perf_counter() - start
    start = time.perf_counter()
    services.import_agencies(actor="bench")
    agencies_again = time.perf_counter() - start
    print(
        f"import-units    first {units_first:6.2f} s ({first.created} created), again {units_again:6.2f} s ({again.unchanged} unchanged)"
    )
    print(f"import-agencies first {agencies_first:6.2f} s, again {agencies_again:6.2f} s")

    listing = timed(lambda: list(selectors.units()[:50]))
    print(f"plain listing, 50 units            {ms(listing)}")
    ratios = []
    for query in QUERIES:
        samples = timed(lambda q=query: list(selectors.units(query=q)[:50]))
        ratios.append(statistics.median(samples) / statistics.median(listing))
        print(f"search units {query!r:14} {ms(samples)}  ({ratios[-1]:.1f}x listing)")
    agencies = timed(lambda: list(selectors.agencies(query="uy ban nhan dan ha noi")[:50]))
    print(f"search agencies 'uy ban nhan dan ha noi' {ms(agencies)}")

    client = Client(HTTP_HOST="localhost")

    def get(path: str) -> None:
        response = client.get(path, {"q": "ha noi"})
        assert response.status_code == 200, response.status_code

    api = timed(lambda: get("/api/v1/units"))
    page = timed(lambda: get("/directory/search/"))
    print(f"API  GET /api/v1/units?q=ha+noi      {ms(api)}")
    print(f"page GET /directory/search/?q=ha+noi {ms(page)}")
    print(
        f"search / listing ratio: median {statistics.median(ratios):.1f}x, worst {max(ratios):.1f}x"
    )


if __name__ == "__main__":
    main()
