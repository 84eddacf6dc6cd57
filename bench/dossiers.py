"""Benchmark: dossier pages and submissions on PostgreSQL with many dossiers (issue "Benchmark").

Run:
    LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/dossiers.py \
        [--dossiers 1000000] [--clients 16] [--seconds 20] [--reuse] [--keep]

A fresh database (``--database``, default lt_bench_dossiers, on the
``--postgres`` server) is built by ``dossiers_data.build``: migrations, the
national directory and catalogue, then N dossiers with their history written
with COPY. ``--reuse`` keeps a database already built with N dossiers (the
dossiers submitted by a previous run are removed first); it is dropped at the
end unless ``--keep``.

The real server (``lienthong serve``: granian, ``--workers`` x ``--threads``,
DEBUG off) serves that database; this process is the load generator: for each
page in turn, ``--clients`` threads (httpx, keep-alive, one session each)
request it as fast as it answers for ``--seconds``, after a short warm-up:

- ``healthz``: the trivial reference page (no database);
- ``search``: the procedure search (``/procedures/?q=...``, a few search words);
- ``lookup``: the anonymous look-up by code with the second factor of knowledge
  (the applicant's phone number or ID number), a form POST with CSRF; the
  page must show the dossier;
- ``mine``: a citizen's "my dossiers" (16 citizens, mostly page 1);
- ``queue``: the officer's queue of the largest agency (its five tabs in turn,
  mostly page 1), the officer signed in as a finished sign-in with a second
  factor leaves the session;
- ``submit``: citizens submitting a simple procedure (LT.000001, one PDF)
  through the real form POST with CSRF; answered with a redirect to the new
  dossier (302). The figure is submissions per second. The form page itself
  (GET) is fetched once per client, for its CSRF token, and not counted.

Each line gives requests per second, p50/p95/p99 latency, and the p50/p95
ratio to the reference page measured in the same run; then the CPU time per
request of the server (granian) and of PostgreSQL (this database's backends)
-- what a dedicated machine would spend, whatever else runs on this one --
and their share of the machine during the phase with the client's, and the
load average. The server keeps its database connections for the run
(LIENTHONG_DB_CONN_MAX_AGE=600) so that their CPU can be read from /proc.

``--explain`` prints EXPLAIN ANALYZE of each page's queries as the selectors
build them (the page of 20 and the paginator's COUNT), ``-v`` the whole plans.
``--in-process N`` first makes N requests of each page in this process, through
Django's test client (no server, no network), and prints the CPU time
(``time.process_time``) and the queries per request: what the page's Python
costs, a figure that hardly moves with the machine's load; ``--seconds 0`` then
skips the server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dossiers_data

SEARCHES = ["khai sinh", "dang ky ket hon", "chứng thực", "xay dung", "ho tich", "tam tru",
            "hộ kinh doanh", "bao hiem y te", "khai tu", "thuong tru"]  # fmt: skip
QUEUE_TABS = ["open", "new", "due_soon", "overdue", "supplement"]
SUBMIT_PROCEDURE = "LT.000001"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CLOCK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * share + 0.5) - 1))]


def cpu_seconds(pids) -> float:
    """User + system CPU of the processes still alive (from /proc)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK
    return total


def process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


# --- The data the clients use ------------------------------------------------------------


def personas(clients: int, seed: int = 7) -> dict:
    """Sessions, dossiers to look up, agencies to submit to: read from the bench database."""
    from django.db import connection

    from lienthong.directory.models import Agency
    from lienthong.identity.models import OfficerRole

    rng = random.Random(seed)
    officer_role = OfficerRole.objects.select_related("user", "agency").get(
        user__username=dossiers_data.OFFICER, role="one_stop_officer"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT applicant_id, count(*) FROM dossiers_dossier WHERE applicant_id IS NOT NULL"
            " GROUP BY applicant_id ORDER BY applicant_id"
        )
        counts = cursor.fetchall()
        cursor.execute(
            "SELECT code, applicant_phone, applicant_id_number FROM dossiers_dossier"
            " TABLESAMPLE SYSTEM (1) LIMIT 5000"
        )
        samples = cursor.fetchall()
        cursor.execute(
            "SELECT receiving_agency_id FROM dossiers_dossier GROUP BY 1 ORDER BY count(*) DESC"
        )
        agency_ids = [row[0] for row in cursor.fetchall()]
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.in_bulk([pk for pk, _ in rng.sample(counts, clients)])
    agencies = {
        a.pk: (a.identifier, a.unit.code if a.unit else "")
        for a in Agency.objects.filter(pk__in=agency_ids).select_related("unit")
    }
    lookups = [
        (code, phone if (phone and rng.random() < 0.7) else number)
        for code, phone, number in samples
        if phone or number
    ]
    return {
        "officer_agency": officer_role.agency.identifier,
        "officer_sessions": [session_for(officer_role.user) for _ in range(clients)],
        "citizens": [(session_for(user), user.username) for user in users.values()],
        "citizen_dossiers": sorted(c for _, c in counts),
        "lookups": lookups,
        "agencies": [agencies[pk] for pk in agency_ids],
        # The Zipf-like spread the data has: submissions follow it.
        "agency_weights": [1 / (rank + 1) ** 0.8 for rank in range(len(agency_ids))],
    }


def session_for(user) -> str:
    """A session as a finished sign-in leaves it (identity.sessions.complete_sign_in),
    with the second factor just proved: signed in, timers started, verified."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from lienthong.identity import sessions

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    stamp = time.time()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store[sessions.STARTED] = store[sessions.SEEN] = store[sessions.VERIFIED] = stamp
    store.create()
    return store.session_key


# --- The server ----------------------------------------------------------------------------


def start_server(url: str, data_dir: Path, port: int, workers: int, threads: int, cache: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENTHONG_", "DJANGO_"))}
    env.update(
        DATABASE_URL=url,
        LIENTHONG_DATA_DIR=str(data_dir),
        LIENTHONG_DEBUG="0",
        LIENTHONG_LOG_LEVEL="WARNING",
        LIENTHONG_LOG_FORMAT="json",
        # One client address makes every look-up here: the per-address limit would
        # answer 429 after ten. The limit itself is not what is measured.
        LIENTHONG_PORTAL_LOOKUP_RATE="1000000/s",
        LIENTHONG_DOSSIERS_NOTIFY_BACKENDS="console",
        LIENTHONG_CACHE_URL=cache,
        # Connections kept for the whole run (the default 60 s recycles them mid-phase;
        # a pooler does the same in production), so their CPU can be read from /proc.
        LIENTHONG_DB_CONN_MAX_AGE="600",
        PYTHONUNBUFFERED="1",
    )
    log = open(data_dir / "bench-server.log", "ab")  # noqa: SIM115  (the child keeps it)
    server = subprocess.Popen(  # noqa: S603  (our own command line)
        [sys.executable, "-m", "lienthong.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--threads", str(threads)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited; see {data_dir / 'bench-server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not answer within 60 s")


# --- The clients -------------------------------------------------------------------------


class Client:
    """One simulated user: its own connection, cookies and, for POSTs, CSRF token."""

    def __init__(self, base: str, index: int, data: dict, page: str):
        import httpx

        self.http = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
        self.rng = random.Random(index * 1000 + hash(page) % 1000)
        self.data = data
        self.index = index
        self.token = ""
        if page == "queue":
            self.http.cookies.set("lienthong_session", data["officer_sessions"][index])
        elif page in ("mine", "submit"):
            session, self.username = data["citizens"][index % len(data["citizens"])]
            self.http.cookies.set("lienthong_session", session)
        if page == "lookup":
            self.token = self._token("/dossiers/lookup/")
        if page == "submit":
            agency, _ = data["agencies"][0]
            self.token = self._token(f"/dossiers/new/{SUBMIT_PROCEDURE}/?agency={agency}")

    def _token(self, path: str) -> str:
        answer = self.http.get(path)
        found = TOKEN.search(answer.text)
        if answer.status_code != 200 or not found:
            raise SystemExit(f"no CSRF token on {path}: {answer.status_code}")
        return found.group(1)

    def healthz(self) -> bool:
        return self.http.get("/healthz").status_code == 200

    def search(self) -> bool:
        answer = self.http.get("/procedures/", params={"q": self.rng.choice(SEARCHES)})
        return answer.status_code == 200

    def lookup(self) -> bool:
        code, factor = self.rng.choice(self.data["lookups"])
        answer = self.http.post(
            "/dossiers/lookup/",
            data={"csrfmiddlewaretoken": self.token, "code": code, "factor": factor},
        )
        return answer.status_code == 200 and code in answer.text

    def mine(self) -> bool:
        page = 1 if self.rng.random() < 0.8 else self.rng.randint(2, 3)
        return self.http.get("/dossiers/", params={"page": page}).status_code == 200

    def queue(self) -> bool:
        tab = QUEUE_TABS[self.rng.randrange(len(QUEUE_TABS))]
        page = 1 if self.rng.random() < 0.8 else self.rng.randint(2, 20)
        answer = self.http.get(
            f"/backoffice/{self.data['officer_agency']}/", params={"queue": tab, "page": page}
        )
        return answer.status_code == 200

    def submit(self) -> bool:
        agency, commune = self.rng.choices(self.data["agencies"], self.data["agency_weights"])[0]
        form = {
            "csrfmiddlewaretoken": self.token,
            "agency": agency,
            "event": "khai-sinh",
            "subject_name": "Nguyễn Minh An",
            "copies": "1",
            "applicant_name": "Người nộp thử",
            "applicant_id": self.username,
            "applicant_phone": "0912345678",
            "applicant_address__street": "12 Lê Lợi",
            "applicant_address__commune": commune,
        }
        document = self.data["document_field"]
        pdf = PDF + f"% {self.index} {time.perf_counter_ns()}\n".encode()
        answer = self.http.post(
            f"/dossiers/new/{SUBMIT_PROCEDURE}/?agency={agency}",
            data=form,
            files={document: ("to-khai.pdf", pdf, "application/pdf")},
        )
        # A browser follows the redirect to the dossier's page, which shows (and so
        # consumes) the "submitted" message: without this the message cookie would
        # grow with every submission until it spilled into the session.
        self.http.cookies.delete("messages")
        if answer.status_code != 302 and not getattr(self, "_told", False):
            self._told = True
            print(f"  submit answered {answer.status_code}: {answer.text[:2000]}")
        return answer.status_code == 302


class _TestClientHttp:
    """The few httpx calls ``Client`` makes, answered by Django's test client in this
    process (no server, no network): what the page itself costs in Python."""

    def __init__(self):
        from django.test import Client as DjangoClient

        self.client = DjangoClient(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
        self.cookies = self

    def set(self, name: str, value: str) -> None:
        self.client.cookies[name] = value

    def delete(self, name: str) -> None:
        self.client.cookies.pop(name, None)

    def get(self, path: str, params: dict | None = None):
        return self._text(self.client.get(path, params or {}))

    def post(self, path: str, data: dict, files: dict | None = None):
        from django.core.files.uploadedfile import SimpleUploadedFile

        form = dict(data)
        for key, (name, content, media_type) in (files or {}).items():
            form[key] = SimpleUploadedFile(name, content, media_type)
        return self._text(self.client.post(path, form))

    @staticmethod
    def _text(response):
        response.text = "" if response.streaming else response.content.decode()
        return response


def in_process(page: str, data: dict, count: int, profile: bool = False, *,
               sql: bool = False, callers: str = "") -> str:  # fmt: skip
    """CPU (time.process_time, robust to a busy machine) and queries per request of
    ``page``, as one client makes it, in this process."""
    from unittest import mock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with mock.patch("httpx.Client", lambda **_: _TestClientHttp()):
        user = Client("http://testserver", 0, data, page)
    call = getattr(user, page)
    for _ in range(3):  # warm: templates compiled, per-process caches filled
        call()
    with CaptureQueriesContext(connection) as queries:
        call()
    # Read now: the next request empties the connection's query log.
    query_count = len(queries)
    if sql:
        for query in queries.captured_queries:
            print("   ", query["time"], query["sql"][:300])
    failed = 0
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.process_time()
    for _ in range(count):
        failed += not call()
    cpu = (time.process_time() - started) * 1000 / count
    if profiler is not None:
        import pstats

        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        if callers:
            stats.print_callers(callers)
    return f"CPU {cpu:5.1f} ms per request, {query_count} queries ({failed} failed)"


def run_phase(base: str, page: str, data: dict, clients: int, seconds: float, warm: float,
              watch: dict) -> dict:  # fmt: skip
    users = [Client(base, i, data, page) for i in range(clients)]
    timings: list[list[float]] = [[] for _ in users]
    failures = [0] * clients
    ready = threading.Barrier(clients + 1)
    state = {"record": False, "stop": False}

    def work(i: int) -> None:
        call = getattr(users[i], page)
        ready.wait()
        while not state["stop"]:
            t = time.perf_counter()
            ok = call()
            elapsed = time.perf_counter() - t
            if state["record"]:
                timings[i].append(elapsed)
                failures[i] += not ok

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(warm)
    server_pids = process_tree(watch["server"])
    pg_pids = watch["pg_pids"]()
    cpu = (cpu_seconds(server_pids), cpu_seconds(pg_pids), time.process_time())
    started = time.perf_counter()
    state["record"] = True
    time.sleep(seconds)
    state["record"] = False
    elapsed = time.perf_counter() - started
    used = (
        cpu_seconds(server_pids) - cpu[0],
        cpu_seconds(pg_pids) - cpu[1],
        time.process_time() - cpu[2],
    )
    state["stop"] = True
    for thread in threads:
        thread.join(timeout=120)
    for user in users:
        user.http.close()
    every = [t for chunk in timings for t in chunk]
    capacity = elapsed * (os.cpu_count() or 1)
    return {
        "page": page,
        "count": len(every),
        "failures": sum(failures),
        "rate": len(every) / elapsed,
        "p50": percentile(every, 0.50) * 1000 if every else float("nan"),
        "p95": percentile(every, 0.95) * 1000 if every else float("nan"),
        "p99": percentile(every, 0.99) * 1000 if every else float("nan"),
        # CPU time per request: what a dedicated machine would spend, whatever else runs here.
        "server_ms": used[0] * 1000 / max(1, len(every)),
        "pg_ms": max(0.0, used[1]) * 1000 / max(1, len(every)),
        "server_cpu": used[0] / capacity,
        "pg_cpu": max(0.0, used[1]) / capacity,
        "client_cpu": used[2] / capacity,
        "load": os.getloadavg(),
    }


def explain(data: dict, verbose: bool) -> None:
    """EXPLAIN ANALYZE of the pages' main queries, as the selectors build them."""
    from django.contrib.auth import get_user_model
    from django.core.paginator import Paginator

    from lienthong.catalog import selectors as catalog
    from lienthong.directory.models import Agency
    from lienthong.dossiers import selectors
    from lienthong.portal import selectors as portal

    officer = get_user_model().objects.get(username=dossiers_data.OFFICER)
    agency = Agency.objects.get(identifier=data["officer_agency"])
    citizen = get_user_model().objects.get(username=data["citizens"][0][1])
    code = data["lookups"][0][0]
    # (label, the queryset counted, how the page's slice is read)
    cases = [
        (f"queue {tab}", selectors.officer_queue(officer, agency, tab), selectors.row_values)
        for tab in QUEUE_TABS
    ]
    cases += [
        ("mine", selectors.my_dossiers(citizen), portal.my_dossiers_listed),
        ("lookup", selectors.Dossier.objects.select_related("procedure", "current_agency").filter(code=code), None),
        ("search", catalog.procedures(query="khai sinh"), None),
    ]  # fmt: skip
    for label, queryset, rows in cases:
        paginator = Paginator(queryset, 20)
        sliced = paginator.page(1).object_list
        for part, query in (("page", rows(sliced) if rows else sliced), ("count", queryset)):
            # Paginator.count runs SELECT COUNT(*) over the same rows.
            plan = query.explain(analyze=True) if part == "page" else _count_plan(queryset)
            lines = plan.splitlines()
            timing = next((x for x in lines if x.startswith("Execution Time")), "")
            print(f"  {label:<20} {part:<5} {timing.split(':')[-1].strip():>12}   {lines[0][:110]}")
            if verbose:
                print("\n".join("      " + x for x in lines))
        print(f"  {'':<20} rows  {paginator.count:>12,}")


def _count_plan(queryset) -> str:
    """EXPLAIN ANALYZE of the very statement ``queryset.count()`` sends (Paginator.count)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        queryset.count()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + captured.captured_queries[-1]["sql"])
        return "\n".join(row[0] for row in cursor.fetchall())


def clean_previous_submissions(url: str, count: int) -> None:
    """With --reuse: remove what earlier runs submitted, so every run starts from N dossiers."""
    import psycopg

    with psycopg.connect(url) as pg:
        (total,) = pg.execute("SELECT count(*) FROM dossiers_dossier").fetchone()
        if total < count:
            raise SystemExit(f"--reuse: the database has {total} dossiers, fewer than {count}")
        ids = "SELECT id FROM dossiers_dossier ORDER BY id OFFSET %s"
        for table in ("dossiers_attachment", "dossiers_dossierevent", "dossiers_supplementrequest"):
            pg.execute(f"DELETE FROM {table} WHERE dossier_id IN ({ids})", (count,))  # noqa: S608
        pg.execute(f"DELETE FROM dossiers_dossier WHERE id IN ({ids})", (count,))  # noqa: S608
        # The counters of today: back to the highest number still present.
        pg.execute(
            "UPDATE dossiers_dossiercounter c SET last = coalesce((SELECT max(split_part(d.code,"
            " '-', 3)::int) FROM dossiers_dossier d JOIN directory_agency a ON a.id ="
            " d.receiving_agency_id WHERE a.id = c.agency_id AND d.code LIKE a.identifier || '-'"
            " || to_char(c.day, 'YYMMDD') || '-%%'), 0) WHERE c.day >= current_date - 1"
        )
        pg.execute("DELETE FROM django_session")
        (left,) = pg.execute("SELECT count(*) FROM dossiers_dossier").fetchone()
        if left != count:
            raise SystemExit(f"--reuse: {left} dossiers left, expected {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL (without a database name)")  # fmt: skip
    parser.add_argument("--database", default="lt_bench_dossiers")
    parser.add_argument("--reuse", action="store_true", help="use the database if already built")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20, help="measured time per page")
    parser.add_argument("--warm", type=float, default=3, help="unmeasured warm-up per page")
    parser.add_argument("--workers", type=int, default=2, help="granian workers")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="granian threads per worker (lienthong serve's default)",
    )
    parser.add_argument("--pages", default="healthz,search,lookup,mine,queue,submit",
                        help="comma-separated; empty to measure nothing")  # fmt: skip
    parser.add_argument("--cache-url", default="database",
                        help="the server's LIENTHONG_CACHE_URL (rate-limit counters)")  # fmt: skip
    parser.add_argument("--explain", action="store_true",
                        help="print EXPLAIN ANALYZE of the pages' queries (-v: whole plans)")  # fmt: skip
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="first, N requests of each page in this process (Django's test"
                        " client, no server): CPU and queries per request")  # fmt: skip
    parser.add_argument("--cprofile", default="", metavar="PAGE",
                        help="with --in-process: the top functions of this page's requests"
                        " (cProfile; its CPU figure then includes the profiler)")  # fmt: skip
    parser.add_argument(
        "--callers",
        default="",
        metavar="REGEX",
        help="with --cprofile: who calls the functions matching REGEX",
    )
    parser.add_argument(
        "--sql",
        default="",
        metavar="PAGE",
        help="with --in-process: print the SQL of one request of this page",
    )
    parser.add_argument("--hold", type=float, default=0, metavar="SECONDS",
                        help="keep the server up this long before the pages run, for another"
                        " load generator (the addresses and sessions are printed)")  # fmt: skip
    parser.add_argument("-v", "--verbose", action="store_true")
    options = parser.parse_args()

    url = dossiers_data.database_url(options.postgres, options.database)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    if options.in_process:
        # This process then serves pages as the server does (see start_server).
        os.environ.update(
            LIENTHONG_DEBUG="0",
            LIENTHONG_PORTAL_LOOKUP_RATE="1000000/s",
            LIENTHONG_DOSSIERS_NOTIFY_BACKENDS="console",
            LIENTHONG_LOG_LEVEL="WARNING",
        )
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.conf import settings
    from django.db import connection

    print(
        f"PostgreSQL {options.database}; Python {sys.version.split()[0]}; {os.cpu_count()} cores;"
        f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    built = False
    if options.reuse:
        try:
            clean_previous_submissions(url, options.dossiers)
            built = True
            print(f"reusing {options.database} with {options.dossiers:,} dossiers")
        except Exception as exc:  # absent, or another size: build it
            print(f"not reusing {options.database}: {exc}")
            connection.close()
    if not built:
        summary = dossiers_data.build(options.postgres, options.database, options.dossiers)
        print(
            f"generated {summary['dossiers']:,} dossiers, {summary['events']:,} history rows,"
            f" {summary['supplements']:,} open supplement requests, {summary['citizens']:,}"
            f" citizens in {summary['total_s']:.0f} s (reference data {summary['setup_s']:.0f} s,"
            f" COPY {summary['dossiers_s']:.0f} s, VACUUM ANALYZE {summary['analyze_s']:.0f} s);"
            f" {summary['size']}; the officer's agency {summary['officer_agency']} holds"
            f" {summary['officer_dossiers']:,}"
        )
    data = personas(options.clients)
    from lienthong.catalog.models import Procedure

    document = Procedure.objects.get(code=SUBMIT_PROCEDURE).documents.order_by("position").first()
    data["document_field"] = f"document_{document.pk}"
    if options.explain:
        print("EXPLAIN ANALYZE (execution time on the server, first plan line):")
        explain(data, options.verbose)
    pages = [page for page in options.pages.split(",") if page]
    if options.in_process:
        print(f"in this process, {options.in_process} requests per page (DEBUG off):")
        for page in pages:
            print(
                f"  {page:<8} "
                + in_process(
                    page,
                    data,
                    options.in_process,
                    page == options.cprofile,
                    sql=page == options.sql,
                    callers=options.callers,
                )
            )
    connection.close()
    if not pages or options.seconds <= 0:
        finish(options)
        return

    from lienthong.testing.nodes import free_port

    port = free_port()
    server = start_server(
        url, Path(settings.DATA_DIR), port, options.workers, options.threads, options.cache_url
    )
    base = f"http://127.0.0.1:{port}"

    def pg_pids() -> list[int]:
        import psycopg

        with psycopg.connect(url) as pg:
            rows = pg.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (options.database,),
            ).fetchall()
        return [pid for (pid,) in rows]

    watch = {"server": server.pid, "pg_pids": pg_pids}
    print(
        f"server: granian {options.workers} workers x {options.threads} threads; "
        f"{options.clients} clients, {options.seconds:.0f} s per page after {options.warm:.0f} s"
        f" warm-up; {len(data['citizen_dossiers']):,} citizens with dossiers (median"
        f" {data['citizen_dossiers'][len(data['citizen_dossiers']) // 2]} each)"
    )
    results = {}
    try:
        if options.hold:
            hold(base, data, options.hold)
        for page in pages:
            results[page] = figures = run_phase(
                base, page, data, options.clients, options.seconds, options.warm, watch
            )
            reference = results.get("healthz")
            ratio = (
                f" = {figures['p50'] / reference['p50']:5.1f}x / {figures['p95'] / reference['p95']:5.1f}x"
                " the reference"
                if reference and page != "healthz"
                else ""
            )
            unit = "submissions/s" if page == "submit" else "req/s"
            print(
                f"{page:<8} {figures['rate']:7.1f} {unit:<13} p50 {figures['p50']:7.1f} ms"
                f"  p95 {figures['p95']:7.1f} ms  p99 {figures['p99']:7.1f} ms{ratio}"
                f"  ({figures['count']} requests, {figures['failures']} failed)"
            )
            print(
                f"         CPU per request: server {figures['server_ms']:.1f} ms, PostgreSQL"
                f" {figures['pg_ms']:.1f} ms; share of the machine: server"
                f" {figures['server_cpu']:.0%}, PostgreSQL {figures['pg_cpu']:.0%}, client"
                f" {figures['client_cpu']:.0%}; load average"
                f" {' '.join(f'{x:.2f}' for x in figures['load'])}"
            )
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    finish(options)


def hold(base: str, data: dict, seconds: float) -> None:
    """Keep the server up for ``seconds`` before the pages run, for a load generator of
    another kind (wrk, say) to measure the same pages from outside Python: print the
    addresses and one signed-in session of each persona."""
    from urllib.parse import quote

    code, factor = data["lookups"][0]
    print(
        f"holding the server for {seconds:.0f} s at {base}\n"
        f"  queue:  {base}/backoffice/{data['officer_agency']}/?queue=open"
        f"  (cookie lienthong_session={data['officer_sessions'][0]})\n"
        f"  mine:   {base}/dossiers/  (cookie lienthong_session={data['citizens'][0][0]})\n"
        f"  search: {base}/procedures/?q={quote(SEARCHES[0])}\n"
        f"  a look-up: code {code}, second factor {factor}",
        flush=True,
    )
    time.sleep(seconds)


def finish(options) -> None:
    if not options.keep:
        dossiers_data.drop(options.postgres, options.database)
        print(f"dropped {options.database}")
    else:
        print(f"kept {options.database} (--reuse runs on it again)")
    stamp = dt.datetime.now(dt.UTC).strftime("%H:%M UTC")
    print(f"done at {stamp}")


if __name__ == "__main__":
    main()
