"""`lienthong trust`: the trust list as an operator keeps it from a terminal."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lienthong.audit.models import AuditRecord
from lienthong.trust.models import TrustedCertificate
from lienthong.trust.tests import certs
from lienthong.trust.tests.factories import listed

pytestmark = pytest.mark.django_db


def trust(*args) -> str:
    out = StringIO()
    call_command("trust", *[str(a) for a in args], stdout=out)
    return out.getvalue()


@pytest.fixture
def root_file(tmp_path):
    root = certs.issue("NEAC Root TEST", key="rsa2048")
    path = tmp_path / "neac-root.crt"
    path.write_bytes(root.pem)
    return root, path


def test_add_list_show_disable_enable_round_trip(root_file, tmp_path):
    root, path = root_file
    government = certs.issue("Government Root TEST")
    (tmp_path / "gov.der").write_bytes(government.der)

    added = trust("add", path, "--hierarchy", "public", "--kind", "root")
    trust("add", tmp_path / "gov.der", "--hierarchy", "government", "--kind", "root",
          "--name", "Ban Cơ yếu gốc")  # fmt: skip

    assert "Added NEAC Root TEST (public root, RSA 2048" in added
    assert root.fingerprint in added
    listing = trust("list")
    assert root.fingerprint[:16] in listing
    assert "Ban Cơ yếu gốc" in listing
    assert listing.splitlines()[0].split()[1:4] == ["government", "root", "enabled"]
    shown = trust("show", root.fingerprint[:8])
    assert "Subject:       CN=NEAC Root TEST,O=Liên Thông TEST,C=VN" in shown
    assert root.fingerprint[:2].upper() + ":" + root.fingerprint[2:4].upper() in shown

    assert trust("disable", root.fingerprint[:10]).strip() == "NEAC Root TEST disabled."
    assert "disabled" in trust("list", "--hierarchy", "public")
    assert "already disabled" in trust("disable", root.fingerprint)
    assert trust("enable", root.fingerprint).strip() == "NEAC Root TEST enabled."

    records = AuditRecord.objects.filter(object_type="trust.trustedcertificate")
    assert [(r.action, r.actor_label, r.source) for r in records.order_by("pk")] == [
        ("create", "cli:trust", "cli"),
        ("create", "cli:trust", "cli"),
        ("update", "cli:trust", "cli"),
        ("update", "cli:trust", "cli"),
    ]


def test_list_as_json_is_for_scripts(root_file):
    root, path = root_file
    trust("add", path, "--hierarchy", "public", "--kind", "root")
    trust("disable", root.fingerprint)
    (entry,) = json.loads(trust("list", "--json"))
    assert entry["fingerprint_sha256"] == root.fingerprint
    assert (entry["hierarchy"], entry["kind"], entry["enabled"]) == ("public", "root", False)
    assert entry["key_description"] == "RSA 2048"
    assert json.loads(trust("list", "--json", "--hierarchy", "government")) == []


def test_show_can_print_the_certificate_itself(root_file):
    root, path = root_file
    trust("add", path, "--hierarchy", "public", "--kind", "root")
    assert root.pem.decode().strip() in trust("show", root.fingerprint, "--pem")


def test_an_empty_list_says_so():
    assert trust("list").strip() == "The trust list is empty."


def test_a_refused_certificate_gives_a_one_line_reason_with_its_code(tmp_path):
    weak = tmp_path / "weak.pem"
    weak.write_bytes(certs.issue("Weak Root TEST", key="rsa1024").pem)
    with pytest.raises(CommandError) as excinfo:
        trust("add", weak, "--hierarchy", "public", "--kind", "root")
    message = str(excinfo.value)
    assert message.startswith(f"refused {weak} (weak_key): The 1024-bit RSA key is too weak")
    assert "\n" not in message
    assert not TrustedCertificate.objects.exists()


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            ["add", "/nonexistent/root.pem", "--hierarchy", "public", "--kind", "root"],
            "no such file",
        ),
        (["show", "00112233"], "no certificate on the trust list has fingerprint 00112233"),
        (["disable", "0011"], "too short"),
        (["enable", "not-hex!"], "not a SHA-256 fingerprint"),
        (["add", "x.pem", "--hierarchy", "military", "--kind", "root"], "invalid choice"),
        (["add", "x.pem", "--kind", "root"], "--hierarchy"),
        ([], "ACTION"),
    ],
)
def test_mistakes_are_one_line_command_errors(args, reason):
    with pytest.raises(CommandError, match=reason):
        trust(*args)


def test_an_ambiguous_prefix_asks_for_more_digits():
    listed("abcdef01" + "0" * 56, "A")
    listed("abcdef01" + "1" * 56, "B")
    with pytest.raises(CommandError, match=r"several certificates .* give more digits"):
        trust("show", "ABCDEF01")
