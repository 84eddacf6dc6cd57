"""The data of the dossiers benchmark: a fresh PostgreSQL database filled fast with COPY.

``build(server_url, name, dossiers)`` drops and creates the database ``name``,
runs the migrations, imports the national directory and seeds the catalogue
(as ``lienthong.testing.plugin.django_db_setup`` does for the tests), then
writes, with psycopg's ``cursor.copy``:

- citizens (``auth_user`` + ``identity_account``, no usable password: the
  benchmark opens their sessions directly), max(1,000, N / 50) of them;
- N dossiers over two years up to now, in submission order (ids and the
  per-agency, per-day numbers of their codes grow with time), received by 300
  commune People's Committees with a Zipf-like spread (the largest gets about
  9 %: it is the benchmark officer's agency), for the eight procedures the
  seeded catalogue links to communes; 80 % submitted online by a citizen,
  20 % taken at the counter without an account;
- statuses spread over the ten national ones by age (old dossiers are mostly
  closed, recent ones mostly open), with the timestamps and ``version`` a
  dossier that went that way has;
- the history rows (``DossierEvent``) the services write for each move of that
  path, the open supplement request of every dossier waiting for one, and the
  code counters (``DossierCounter``) at the last number used, so that new
  submissions continue the numbering without colliding.

Deadlines are approximated (time limit in working days times 7/5 calendar
days from acceptance) rather than computed on the holiday calendar: the
benchmark needs their spread, not their exactness. No attachments are written.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from itertools import accumulate

AGENCIES = 300
BATCH = 100_000  # dossiers per COPY; their events follow in a COPY of their own
VIETNAM = dt.timezone(dt.timedelta(hours=7))
YEARS = 2
OFFICER = "bench.motcua"
SEED = 20261204

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]  # fmt: skip
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Thanh", "Hữu", "Đức", "Thu", "Quốc", "Hoài"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hoa", "Hùng",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Phúc", "Phương", "Quân",
         "Sơn", "Tâm", "Thảo", "Trang", "Trung", "Tuấn", "Vân", "Yến"]  # fmt: skip
STREETS = ["Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Lý Thường Kiệt",
           "Quang Trung", "Hùng Vương", "Điện Biên Phủ"]  # fmt: skip

# Procedure code -> share of dossiers (the eight the seeded catalogue links to communes).
PROCEDURES = {
    "1.001193": 26, "1.000894": 9, "1.000656": 7, "LT.000001": 18, "LT.000002": 14,
    "LT.000003": 18, "1.001612": 5, "LT.000009": 3,
}  # fmt: skip

# Status weights by the dossier's age: (younger than N days, {status: weight}).
BY_AGE = [
    (15, {1: 25, 2: 15, 3: 5, 4: 25, 5: 8, 6: 4, 7: 4, 8: 1, 9: 8, 10: 5}),
    (90, {1: 2, 2: 3, 3: 8, 4: 15, 5: 5, 6: 3, 7: 6, 8: 3, 9: 10, 10: 45}),
    (10**6, {1: 0.5, 2: 0.5, 3: 8, 4: 2, 5: 1, 6: 1, 7: 7, 8: 4, 9: 6, 10: 70}),
]
ACTIONS = {1: "resubmitted", 2: "accepted", 3: "rejected", 4: "processing",
           5: "supplement_requested", 6: "payment_requested", 7: "withdrawn", 8: "stopped",
           9: "done", 10: "result_returned"}  # fmt: skip
REASONS = {3: "Hồ sơ không thuộc thẩm quyền giải quyết.", 5: "Thiếu bản sao giấy tờ tùy thân.",
           6: "Vui lòng nộp lệ phí theo quy định.", 8: "Người nộp không bổ sung hồ sơ đúng hạn."}  # fmt: skip
PATH = {
    1: [1], 2: [1, 2], 3: [1, 3], 4: [1, 2, 4], 6: [1, 2, 4, 6], 8: [1, 2, 4, 8],
    9: [1, 2, 4, 9], 10: [1, 2, 4, 9, 10],
}  # fmt: skip


COLUMNS = {
    "auth_user": ["id", "password", "is_superuser", "username", "first_name", "last_name",
                  "email", "is_staff", "is_active", "date_joined"],
    "identity_account": ["id", "user_id", "kind", "personal_id", "display_name", "phone",
                         "email", "sms_enabled", "created_at"],
    "dossiers_dossier": ["id", "code", "procedure_id", "receiving_agency_id",
                         "current_agency_id", "applicant_id", "applicant_name",
                         "applicant_id_number", "applicant_phone", "applicant_email",
                         "applicant_address", "channel", "status", "form_data", "submitted_at",
                         "accepted_at", "due_at", "finished_at", "returned_at", "version",
                         "origin_code", "origin_member"],
    "dossiers_dossierevent": ["dossier_id", "at", "action", "status_from", "status_to",
                              "actor_label", "actor_id", "agency_id", "reason", "note"],
    "dossiers_supplementrequest": ["dossier_id", "requested_at", "reason", "resume_status"],
    "dossiers_dossiercounter": ["agency_id", "day", "last"],
}  # fmt: skip


def admin_url(server_url: str) -> str:
    return server_url.rstrip("/") + "/postgres"


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rstrip('/')}/{name}"


def recreate(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(server_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def drop(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(server_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _ts(value: dt.datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"


# Values for NOT NULL columns the generator does not write (added to the models
# later): the model defaults, given as column defaults for the time of the COPY.
EMPTY = {"character varying": "''", "text": "''", "boolean": "false", "smallint": "0",
         "integer": "0", "bigint": "0", "jsonb": "'{}'", "numeric": "0"}  # fmt: skip


def model_defaults(connection, table: str, columns: list[str]) -> list[str]:
    """Give the NOT NULL columns of ``table`` missing from ``columns`` their model
    default (or an empty value) as a column default; the statements undoing it."""
    others = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s"
        " AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'"
        " AND NOT column_name = ANY(%s)",
        (table, columns),
    ).fetchall()
    undo = []
    for column, kind in others:
        default = _model_default(table, column) or EMPTY[kind]
        connection.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}")
        undo.append(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
    return undo


def _model_default(table: str, column: str) -> str | None:
    from django.apps import apps
    from django.db.models import NOT_PROVIDED

    for model in apps.get_models():
        if model._meta.db_table == table:
            for field in model._meta.concrete_fields:
                if field.column == column and field.default is not NOT_PROVIDED:
                    value = field.get_default()
                    if isinstance(value, bool):
                        return str(value).lower()
                    if isinstance(value, int):
                        return str(value)
    return None


def _copy(connection, table: str, columns: list[str], lines) -> int:
    """COPY text lines (tab-separated, already escaped) into ``table``; the row count."""
    count = 0
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        chunk: list[str] = []
        for line in lines:
            chunk.append(line)
            if len(chunk) >= 20000:
                copy.write("\n".join(chunk) + "\n")
                count += len(chunk)
                chunk = []
        if chunk:
            copy.write("\n".join(chunk) + "\n")
            count += len(chunk)
    return count


def reference_data() -> None:
    """Migrations, the national directory, the catalogue and its holidays (the test setup's)."""
    from django.core.management import call_command

    from lienthong.catalog import services as catalog
    from lienthong.directory import services

    call_command("migrate", verbosity=0)
    data, source = services.package_units_source()
    services.import_units(actor="bench", rows=services.parse_units(data), source=source)
    services.import_agencies(actor="bench")
    catalog.seed_catalog(actor="bench")
    for year in range(dt.date.today().year - YEARS, dt.date.today().year + 2):
        try:
            catalog.load_holidays(actor="bench", year=year)
        except Exception as exc:  # a year the package has no table for
            print(f"  holidays {year}: not loaded ({exc})")


def build(server_url: str, name: str, count: int) -> dict:
    """Recreate database ``name`` and fill it; Django must be set up on it already."""
    from django.db import connection as django_connection

    started = time.perf_counter()
    recreate(server_url, name)
    django_connection.close()
    reference_data()
    setup = time.perf_counter() - started
    summary = fill(database_url(server_url, name), count)
    summary["setup_s"] = setup
    summary["total_s"] = time.perf_counter() - started
    return summary


def fill(url: str, count: int) -> dict:
    import psycopg

    from lienthong.catalog.models import Procedure
    from lienthong.directory.models import Agency
    from lienthong.identity import factors
    from lienthong.identity import services as identity
    from lienthong.identity.models import Role

    rng = random.Random(SEED)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    summary: dict = {"dossiers": count}

    communes = list(
        Agency.objects.filter(kind="commune_committee", is_active=True, procedures__isnull=False)
        .distinct()
        .order_by("identifier")
        .values_list("pk", "identifier")
    )
    agencies = rng.sample(communes, min(AGENCIES, len(communes)))
    agency_weights = list(accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(agencies))))
    procedures = {
        p.code: (p.pk, p.time_limit) for p in Procedure.objects.filter(code__in=PROCEDURES)
    }
    procedure_codes = list(PROCEDURES)
    procedure_weights = list(accumulate(PROCEDURES[c] for c in procedure_codes))

    # The officer of the largest agency, with a second factor, as they would be.
    officer = identity.create_account(
        actor="bench", kind="officer", display_name="Cán bộ một cửa (bench)",
        username=OFFICER, password=None, source="bench",
    ).user  # fmt: skip
    big = Agency.objects.get(pk=agencies[0][0])
    for role in (Role.ONE_STOP_OFFICER, Role.SPECIALIST, Role.LEADER):
        identity.grant_role(actor="bench", user=officer, agency=big, role=role, source="bench")
    factors.issue_totp(actor="bench", user=officer, source="bench")
    summary["officer_agency"] = big.identifier

    t = time.perf_counter()
    with psycopg.connect(url) as pg:
        # The rows are consistent by construction: no foreign-key triggers during the
        # load (each would queue a deferred check for the COMMIT: minutes at 1M).
        pg.execute("SET session_replication_role = replica")
        (first_user,) = pg.execute("SELECT coalesce(max(id), 0) + 1 FROM auth_user").fetchone()
        (first_account,) = pg.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM identity_account"
        ).fetchone()
        citizens = []
        for n in range(max(1000, count // 50)):
            citizens.append(
                (
                    first_user + n,
                    f"001190{n:06d}",
                    _name(rng),
                    f"09{(13572468 + n * 7919) % 100_000_000:08d}",
                )
            )
        stamp = _ts(now - dt.timedelta(days=YEARS * 366))
        undo = []
        for table, columns in COLUMNS.items():
            undo += model_defaults(pg, table, columns)
        _copy(
            pg, "auth_user", COLUMNS["auth_user"],
            (f"{uid}\t!bench{uid}\tf\t{pid}\t\t\t\tf\tt\t{stamp}" for uid, pid, _, _ in citizens),
        )  # fmt: skip
        _copy(
            pg, "identity_account", COLUMNS["identity_account"],
            (f"{first_account + i}\t{uid}\tcitizen\t{pid}\t{name}\t{phone}\t\tf\t{stamp}"
             for i, (uid, pid, name, phone) in enumerate(citizens)),
        )  # fmt: skip
        summary["citizens"] = len(citizens)

        # Submission times, oldest first: ids and code numbers follow them.
        span = YEARS * 365 * 86400 - 600
        offsets = sorted(rng.random() * span for _ in range(count))
        start = now - dt.timedelta(seconds=span + 600)
        counters: dict[tuple[int, dt.date], int] = defaultdict(int)
        (first_dossier,) = pg.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM dossiers_dossier"
        ).fetchone()
        events: list[str] = []
        supplements: list[str] = []
        statuses = [(limit, list(w), list(accumulate(w.values()))) for limit, w in BY_AGE]

        def dossier_lines(lo: int, hi: int):
            for n in range(lo, hi):
                offset = offsets[n]
                pk = first_dossier + n
                submitted = start + dt.timedelta(seconds=offset)
                agency_pk, agency_code = rng.choices(agencies, cum_weights=agency_weights)[0]
                day = submitted.astimezone(VIETNAM).date()
                counters[(agency_pk, day)] += 1
                code = f"{agency_code}-{day:%y%m%d}-{counters[(agency_pk, day)]:04d}"
                procedure_pk, limit = procedures[
                    rng.choices(procedure_codes, cum_weights=procedure_weights)[0]
                ]
                age = (now - submitted).days
                _, keys, weights = next(s for s in statuses if age < s[0])
                status = rng.choices(keys, cum_weights=weights)[0]
                if status == 5:
                    path, resume = ([1, 5], 1) if rng.random() < 0.5 else ([1, 2, 4, 5], 4)
                elif status == 7:
                    path, resume = ([1, 7] if rng.random() < 0.7 else [1, 2, 7]), None
                else:
                    path, resume = PATH[status], None
                online = rng.random() < 0.8
                if online:
                    uid, pid, name, phone = rng.choice(citizens)
                    applicant, channel, actor = str(uid), 2, pid
                else:
                    uid, name = None, _name(rng)
                    pid = f"0{rng.randrange(1, 96):02d}{rng.randrange(0, 4)}{rng.randrange(10**8):08d}"
                    phone = f"09{rng.randrange(10**8):08d}"
                    applicant, channel, actor = "\\N", 1, OFFICER
                # The moments of the path, each after the one before and none after now.
                moments = [submitted]
                accepted = due = finished = returned = None
                for status_to in path[1:]:
                    previous = moments[-1]
                    if status_to in (8, 9) and accepted is not None:
                        days = float(limit or 5) * 1.4 * rng.uniform(0.3, 1.3)
                        moment = accepted + dt.timedelta(days=days)
                    elif status_to == 10:
                        moment = previous + dt.timedelta(days=rng.uniform(0, 3))
                    else:
                        moment = previous + dt.timedelta(hours=rng.uniform(1, 36))
                    moment = max(previous, min(moment, now))
                    moments.append(moment)
                    if status_to == 2:
                        accepted = moment
                        if limit is not None:
                            due = accepted + dt.timedelta(days=float(limit) * 1.4)
                            if not limit:
                                due = accepted.replace(hour=10, minute=0, second=0)  # 17:00 VN
                                due = max(due, accepted)
                    if status_to in (3, 8, 9):
                        finished = moment
                    if status_to == 10:
                        returned = moment
                street = f"{rng.randrange(1, 300)} {rng.choice(STREETS)}"
                # The declaration as the intake stores it (JSON; no quotes to escape here).
                form = (
                    f'{{"applicant_name": "{name}", "applicant_id": "{pid}", '
                    f'"applicant_phone": "{phone}", "applicant_address": {{"street": "{street}"}}}}'
                )
                for i, status_to in enumerate(path):
                    events.append(
                        "\t".join(
                            (
                                str(pk),
                                moments[i].isoformat(),
                                "submitted" if i == 0 else ACTIONS[status_to],
                                "\\N" if i == 0 else str(path[i - 1]),
                                str(status_to),
                                actor if i == 0 else OFFICER,
                                (applicant if i == 0 else "\\N"),
                                str(agency_pk),
                                REASONS.get(status_to, "") if i else "",
                            )
                        )
                    )
                if status == 5:
                    supplements.append(f"{pk}\t{moments[-1].isoformat()}\t{REASONS[5]}\t{resume}")
                yield "\t".join(
                    (
                        str(pk), code, str(procedure_pk), str(agency_pk), str(agency_pk),
                        applicant, name, pid, phone, "", street,
                        str(channel), str(status), form,
                        submitted.isoformat(), _ts(accepted), _ts(due), _ts(finished),
                        _ts(returned), str(len(path)), "", "",
                    )
                )  # fmt: skip

        summary["events"] = 0
        for lo in range(0, count, BATCH):
            _copy(
                pg, "dossiers_dossier", COLUMNS["dossiers_dossier"],
                dossier_lines(lo, min(lo + BATCH, count)),
            )  # fmt: skip
            summary["events"] += _copy_events(pg, events)
            events.clear()
        summary["dossiers_s"] = time.perf_counter() - t
        t = time.perf_counter()
        summary["supplements"] = _copy(
            pg, "dossiers_supplementrequest", COLUMNS["dossiers_supplementrequest"], supplements,
        )  # fmt: skip
        _copy(
            pg, "dossiers_dossiercounter", COLUMNS["dossiers_dossiercounter"],
            (f"{a}\t{d.isoformat()}\t{last}" for (a, d), last in counters.items()),
        )  # fmt: skip
        for table in ("auth_user", "identity_account", "dossiers_dossier"):
            sequence = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
            pg.execute(sequence)
        pg.commit()
        pg.autocommit = True
        for statement in undo:
            pg.execute(statement)
        pg.execute("VACUUM ANALYZE")
        summary["analyze_s"] = time.perf_counter() - t
        summary["officer_dossiers"] = pg.execute(
            "SELECT count(*) FROM dossiers_dossier WHERE current_agency_id = %s", (big.pk,)
        ).fetchone()[0]
        summary["size"] = pg.execute(
            "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ).fetchone()[0]
    return summary


def _copy_events(pg, events: list[str]) -> int:
    return _copy(
        pg, "dossiers_dossierevent", COLUMNS["dossiers_dossierevent"], (f"{e}\t" for e in events)
    )
