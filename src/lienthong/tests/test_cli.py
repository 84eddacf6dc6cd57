"""The `lienthong` command as an operator runs it: in a fresh data folder, in a subprocess."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


def run(args, data_dir, timeout=180, **env):
    return subprocess.run(
        [sys.executable, "-m", "lienthong", *args],
        env={**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "DATABASE_URL": "", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """A data folder prepared by `lienthong demo --single --no-serve` (the embedded demo)."""
    data_dir = tmp_path_factory.mktemp("demo")
    result = run(["demo", "--single", "--no-serve"], data_dir)
    assert result.returncode == 0, result.stderr
    return data_dir, result.stdout


def test_demo_prepares_sqlite_in_the_data_folder_and_prints_url_and_accounts(demo_data):
    data_dir, out = demo_data
    assert (data_dir / "lienthong.sqlite3").exists()
    assert (data_dir / "secret_key").exists()
    assert "3355 created" in out
    assert "http://127.0.0.1:8000/" in out
    assert "operator / " in out
    password = out.split("operator / ", 1)[1].split()[0]
    assert len(password) >= 16
    assert "catalog: " in out


def test_the_demo_operator_signs_in_with_a_second_factor_the_demo_prints(demo_data):
    import pyotp

    data_dir, out = demo_data
    key = out.split("authenticator app key ", 1)[1].split()[0]

    code = run(["demo", "--code", "operator"], data_dir)

    assert code.returncode == 0, code.stderr
    assert pyotp.TOTP(key).verify(code.stdout.strip(), valid_window=1)
    unknown = run(["demo", "--code", "nobody"], data_dir)
    assert unknown.returncode != 0


def test_demo_twice_changes_nothing_and_keeps_the_passwords(demo_data):
    data_dir, first = demo_data
    again = run(["demo", "--single", "--no-serve"], data_dir)
    assert again.returncode == 0, again.stderr
    assert "0 created, 0 updated, 0 closed, 3355 unchanged" in again.stdout
    assert (
        first.split("operator / ", 1)[1].split()[0]
        == again.stdout.split("operator / ", 1)[1].split()[0]
    )
    assert (
        first.split("authenticator app key ", 1)[1].split()[0]
        == again.stdout.split("authenticator app key ", 1)[1].split()[0]
    )


def test_a_refused_import_exits_non_zero_with_a_one_line_reason(demo_data, tmp_path):
    data_dir, _ = demo_data
    bad = tmp_path / "codes.csv"
    bad.write_text("ma_buu_chinh,ma_don_vi_hanh_chinh\n1234,00070\n", encoding="utf-8")
    result = run(["import-postal-codes", str(bad)], data_dir)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("CommandError: refused")
    assert "line 2: postal code '1234' is not 5 digits" in last


def test_hyphenated_command_names_and_help(demo_data):
    data_dir, _ = demo_data
    result = run(["help", "import-units"], data_dir)
    assert result.returncode == 0
    assert "--valid-from" in result.stdout


def wait_for(url, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback only)
                return response.status, response.read()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {seconds}s")


@pytest.mark.parametrize(
    ("host", "family", "shown"),
    [("127.0.0.1", socket.AF_INET, "127.0.0.1"), ("::1", socket.AF_INET6, "[::1]")],
)
def test_serve_runs_the_production_server_on_ipv4_and_ipv6(demo_data, host, family, shown):
    data_dir, _ = demo_data
    port = free_port(family, host)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lienthong",
            "serve",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "DATABASE_URL": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        status, body = wait_for(f"http://{shown}:{port}/readyz")
        assert status == 200
        assert b'"status": "ok"' in body
        status, body = wait_for(f"http://{shown}:{port}/api/v1/units?level=province")
        assert b'"count": 34' in body
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize(
    ("args", "env", "threads"),
    [
        ([], {}, "2"),  # the pages: Python's work, two threads per process
        (["--exchange"], {}, "4"),  # the listener mostly waits on other systems
        ([], {"LIENTHONG_THREADS": "6"}, "6"),
        (["--threads", "3"], {"LIENTHONG_THREADS": "6"}, "3"),
    ],
)
def test_serve_threads_per_worker(monkeypatch, args, env, threads):
    from unittest import mock

    from django.core.management import call_command

    from lienthong.exchange import tls

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tls, "granian_tls_argv", lambda: ["--ssl-certificate", "x"])
    # `serve --exchange` marks its environment for the child: restored after the call.
    with mock.patch.dict(os.environ), mock.patch("os.execv") as execv:
        call_command("serve", *args)
    assert "LIENTHONG_LISTENER" not in os.environ
    argv = execv.call_args.args[1]
    assert argv[argv.index("--blocking-threads") + 1] == threads
