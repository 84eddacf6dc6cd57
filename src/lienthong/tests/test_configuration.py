"""Configuration from the environment, and the system checks that refuse a dangerous one."""

import os
import stat
import subprocess
import sys

import pytest
from django.core.checks import Error, Warning

from lienthong import checks, config


def test_a_generated_secret_key_is_kept_owner_only_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    first = config.load_or_create_secret_key(tmp_path)
    second = config.load_or_create_secret_key(tmp_path)
    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600


def test_two_data_folders_never_share_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    a = config.load_or_create_secret_key(tmp_path / "a")
    b = config.load_or_create_secret_key(tmp_path / "b")
    assert a != b


def test_a_secret_can_come_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_text("from-a-mounted-secret\n", encoding="utf-8")
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret))
    assert config.env_str("SECRET_KEY") == "from-a-mounted-secret"


def test_an_unreadable_secret_file_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(config.ConfigurationError, match="SECRET_KEY_FILE"):
        config.env_str("SECRET_KEY")


@pytest.mark.parametrize(("raw", "expected"), [("yes", True), ("0", False), ("", True)])
def test_booleans_are_read_strictly(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert config.env_bool("X_FLAG", default=True) is expected


@pytest.mark.parametrize(
    ("reader", "raw"),
    [(lambda: config.env_bool("X", False), "maybe"), (lambda: config.env_int("X", 1), "ten")],
)
def test_a_typo_stops_the_node_with_the_variable_named(monkeypatch, reader, raw):
    monkeypatch.setenv("X", raw)
    with pytest.raises(config.ConfigurationError, match=r"^X:"):
        reader()


def test_lists_drop_blank_items(monkeypatch):
    monkeypatch.setenv("X_LIST", " a.example, ,b.example ")
    assert config.env_list("X_LIST") == ["a.example", "b.example"]


def ids(problems):
    return {p.id for p in problems}


@pytest.fixture
def production(settings, monkeypatch):
    settings.PRODUCTION = True
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["lienthong.example.gov.vn"]
    settings.SECRET_KEY = "k" * 20 + "ZyXwVuTsRqPoNmLkJiHgFeDcBa0123456789"
    settings.SESSION_COOKIE_SECURE = True
    monkeypatch.setattr(checks, "database_engine", lambda: "django.db.backends.postgresql")
    return settings


def test_a_sound_production_configuration_passes(production):
    assert checks.check_configuration() == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"DEBUG": True}, "lienthong.E010"),
        ({"ALLOWED_HOSTS": ["*"]}, "lienthong.E011"),
        ({"ALLOWED_HOSTS": []}, "lienthong.E011"),
        ({"SECRET_KEY": "short"}, "lienthong.E012"),
        ({"SESSION_COOKIE_SECURE": False}, "lienthong.E013"),
        ({"NODE_ROLE": "ministry"}, "lienthong.E001"),
        ({"NODE_AGENCIES": ["000.00.00.G12", "g12"]}, "lienthong.E002"),
    ],
)
def test_dangerous_production_settings_are_refused(production, change, expected):
    for name, value in change.items():
        setattr(production, name, value)
    problems = checks.check_configuration()
    assert expected in ids(problems)
    assert all(isinstance(p, Error) for p in problems if p.id == expected)


def test_sqlite_in_production_is_a_warning_not_an_error(production, monkeypatch):
    monkeypatch.setattr(checks, "database_engine", lambda: "django.db.backends.sqlite3")
    problems = checks.check_configuration()
    assert ids(problems) == {"lienthong.W001"}
    assert isinstance(problems[0], Warning)


def test_development_defaults_pass(settings):
    settings.PRODUCTION = False
    assert checks.check_configuration() == []


def test_the_node_refuses_to_start_in_production_with_debug(tmp_path):
    env = {
        **os.environ,
        "LIENTHONG_ENV": "production",
        "LIENTHONG_DEBUG": "true",
        "LIENTHONG_ALLOWED_HOSTS": "node.example",
        "LIENTHONG_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "lienthong.E010" in result.stderr


def test_a_malformed_variable_stops_the_command_with_its_name(tmp_path):
    env = {**os.environ, "LIENTHONG_ENV": "staging", "LIENTHONG_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "lienthong: configuration error: LIENTHONG_ENV: expected one of development, production, got 'staging'"
    ]


def test_a_query_limit_the_request_limit_cannot_carry_is_refused(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
    settings.EXCHANGE_QUERY_MAX_BYTES = 3 * 1024 * 1024

    assert [p.id for p in checks.check_configuration()] == ["lienthong.E003"]

    settings.EXCHANGE_QUERY_MAX_BYTES = 2 * 1024 * 1024
    assert checks.check_configuration() == []


def test_processes_starting_at_once_all_get_the_one_key_written_whole(tmp_path, monkeypatch):
    """Nodes started side by side on a new data folder: one key is generated, and no
    process reads it before it is written whole (an empty key refused the start)."""
    import threading

    monkeypatch.delenv("LIENTHONG_KEY_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("LIENTHONG_KEY_ENCRYPTION_KEY_FILE", raising=False)
    key_file = tmp_path / "data" / "key_encryption_key"
    start, keys = threading.Barrier(8), []

    def start_node() -> None:
        start.wait()
        keys.append(config._configured_or_generated("LIENTHONG_KEY_ENCRYPTION_KEY", key_file))

    threads = [threading.Thread(target=start_node) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 8 and len(set(keys)) == 1
    assert len(keys[0]) >= config.MIN_KEY_ENCRYPTION_KEY_LENGTH
    assert key_file.read_text(encoding="utf-8") == keys[0]
    assert [p.name for p in key_file.parent.iterdir()] == ["key_encryption_key"]
