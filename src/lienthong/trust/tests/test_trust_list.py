"""The trust list: several roots at once, refused certificates, switching them on and off."""

import datetime as dt

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from django.utils import timezone

from lienthong.audit.models import AuditRecord
from lienthong.trust import selectors, services
from lienthong.trust.models import TrustedCertificate
from lienthong.trust.tests import certs
from lienthong.trust.tests.factories import listed

pytestmark = pytest.mark.django_db


def add(issued_or_data, *, hierarchy="public", kind="root", **kwargs):
    data = issued_or_data if isinstance(issued_or_data, bytes) else issued_or_data.pem
    return services.add_certificate(
        actor="test", data=data, hierarchy=hierarchy, kind=kind, **kwargs
    )


def refusal(issued_or_data, **kwargs) -> services.CertificateRefused:
    with pytest.raises(services.CertificateRefused) as excinfo:
        add(issued_or_data, **kwargs)
    return excinfo.value


def test_a_public_root_and_a_government_root_are_trusted_at_once():
    neac = certs.issue("NEAC Root CA TEST", key="rsa2048")
    cipher = certs.issue("Government CA Root TEST", key="p256")

    public = add(neac, hierarchy="public")
    government = services.add_certificate(
        actor="test", data=cipher.der, hierarchy="government", kind="root"
    )

    assert {c.fingerprint for c in (neac, cipher)} == {a.sha256.hex() for a in selectors.anchors()}
    assert selectors.hierarchy_of(neac.asn1) == "public"
    assert selectors.hierarchy_of(cipher.asn1) == "government"
    assert public.name == "NEAC Root CA TEST"
    assert public.key_description == "RSA 2048"
    assert government.key_description == "EC P-256 (secp256r1)"
    assert public.subject == "CN=NEAC Root CA TEST,O=Liên Thông TEST,C=VN"
    assert public.issuer == public.subject
    assert public.serial_number == f"{neac.certificate.serial_number:X}".zfill(4)
    assert public.not_before == neac.certificate.not_valid_before_utc
    assert timezone.is_aware(public.not_after)
    assert bytes(public.der) == neac.der
    assert public.is_enabled


def test_the_operator_may_name_a_certificate_and_leave_a_note():
    root = certs.issue("Root CA TEST", key="p384")
    trusted = add(root, name="  NEAC gốc 2026  ", notes="Nhận từ NEAC ngày 01/07/2026.")
    assert (trusted.name, trusted.notes) == ("NEAC gốc 2026", "Nhận từ NEAC ngày 01/07/2026.")
    assert trusted.key_description == "EC P-384 (secp384r1)"


def test_adding_is_audited_with_the_facts_that_identify_the_certificate():
    root = certs.issue("Audited Root TEST")
    trusted = add(root, source="admin")
    record = AuditRecord.objects.get(object_type="trust.trustedcertificate", action="create")
    assert record.object_id == str(trusted.pk)
    assert (record.actor_label, record.source) == ("test", "admin")
    assert record.changes["fingerprint_sha256"] == [None, root.fingerprint]
    assert record.changes["hierarchy"] == [None, "public"]
    assert record.changes["not_after"] == [None, trusted.not_after.isoformat()]
    assert "der" not in record.changes


def test_the_source_defaults_to_the_command_line():
    add(certs.issue("CLI Root TEST"))
    record = AuditRecord.objects.get(action="create", object_type="trust.trustedcertificate")
    assert record.source == "cli"


def test_intermediates_and_cross_certificates_are_offered_for_path_building_only():
    root = certs.issue("Root TEST", key="rsa2048")
    intermediate = certs.issue("Issuing CA TEST", issuer=root)
    other_root = certs.issue("Other Root TEST", key="rsa3072")
    cross = certs.issue("Other Root TEST", issuer=root, subject_key=other_root.key)
    add(root)
    add(intermediate, kind="intermediate")
    add(cross, kind="cross", hierarchy="government")

    assert [a.sha256.hex() for a in selectors.anchors()] == [root.fingerprint]
    assert {a.sha256.hex() for a in selectors.other_certificates()} == {
        intermediate.fingerprint,
        cross.fingerprint,
    }
    assert selectors.hierarchy_of(cross.asn1) is None  # not a root, so not an anchor


# --- Refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "code", "english"),
    [
        ("rsa1024", "weak_key", "1024-bit RSA key is too weak"),
        ("p192", "weak_key", "192-bit ECDSA key (secp192r1) is too weak"),
        ("dsa2048", "unsupported_key", "DSA keys are not accepted"),
        ("ed25519", "unsupported_key", "Ed25519 keys are not accepted"),
    ],
)
def test_weak_and_unrecognised_keys_are_refused(key, code, english):
    exc = refusal(certs.issue(f"{key} Root TEST", key=key))
    assert exc.code == code
    assert english in str(exc)
    assert not TrustedCertificate.objects.exists()
    assert not AuditRecord.objects.filter(object_type="trust.trustedcertificate").exists()


def test_a_weak_key_refusal_cites_the_circular_in_both_languages():
    exc = refusal(certs.issue("Weak Root TEST", key="rsa1024"))
    assert "Thông tư 15/2025/TT-BKHCN" in exc.message_vi
    assert "tối thiểu 2048 bit" in exc.message_vi
    assert "Circular 15/2025/TT-BKHCN" in exc.message_en == str(exc)


@pytest.mark.parametrize(("digest", "shown"), [("sha1", "SHA-1"), ("md5", "MD5")])
def test_a_certificate_signed_with_a_broken_hash_is_refused(digest, shown):
    root = certs.issue(f"{digest} Root TEST", key="rsa2048")
    exc = refusal(certs.resigned(root, digest))
    assert exc.code == "weak_signature_algorithm"
    assert f"signed with {shown}" in exc.message_en


def test_a_root_must_be_self_signed():
    root = certs.issue("Root TEST")
    intermediate = certs.issue("Issuing CA TEST", issuer=root)
    exc = refusal(intermediate, kind="root")
    assert exc.code == "not_self_signed"
    assert "issuer: CN=Root TEST" in exc.message_en


def test_a_root_whose_self_signature_does_not_verify_is_refused():
    exc = refusal(certs.tampered(certs.issue("Tampered Root TEST", key="rsa2048")))
    assert (exc.code, exc.message_en) == (
        "not_self_signed",
        "The root's self-signature does not verify.",
    )


@pytest.mark.parametrize("kind", ["root", "intermediate", "cross"])
def test_a_certificate_that_cannot_certify_others_is_refused(kind):
    root = certs.issue("Root TEST")
    leaf = certs.issue("Nguyễn Văn An TEST", ca=False, issuer=None if kind == "root" else root)
    assert refusal(leaf, kind=kind).code == "not_a_ca"


def test_a_ca_whose_key_usage_forbids_certificate_signing_is_refused():
    exc = refusal(certs.issue("Odd Root TEST", key_cert_sign=False))
    assert exc.code == "not_a_ca"
    assert "keyCertSign" in exc.message_en


def test_a_self_signed_certificate_offered_as_an_intermediate_is_refused():
    assert refusal(certs.issue("Root TEST"), kind="intermediate").code == "self_signed_not_root"


def test_a_key_rollover_link_certificate_is_a_valid_intermediate():
    """Same name as the root, but the old key certifies the new one: self-issued, not self-signed."""
    old_root = certs.issue("Root TEST", key="rsa2048")
    old_with_new = certs.issue("Root TEST", issuer=old_root, subject_key=certs.private_key("p384"))
    assert (
        add(old_with_new, kind="intermediate").issuer
        == old_root.certificate.subject.rfc4514_string()
    )


def test_an_expired_certificate_is_refused_with_its_date():
    old = certs.issue(
        "Old Root TEST", valid_from=dt.datetime(2015, 1, 1, 12, tzinfo=dt.UTC), days=365
    )
    exc = refusal(old)
    assert exc.code == "expired"
    assert exc.message_vi == "Chứng thư số đã hết hạn ngày 01/01/2016."


def test_a_root_not_yet_valid_is_listed_but_not_yet_an_anchor():
    successor = certs.issue(
        "Successor Root TEST", valid_from=timezone.now() + dt.timedelta(days=30)
    )
    add(successor)
    assert selectors.anchors() == []
    later = timezone.now() + dt.timedelta(days=31)
    assert [a.sha256.hex() for a in selectors.anchors(at=later)] == [successor.fingerprint]


def test_the_same_certificate_cannot_be_added_twice_in_any_encoding():
    root = certs.issue("Root TEST")
    add(root, name="First")
    exc = refusal(root.der, hierarchy="government")
    assert exc.code == "duplicate"
    assert "(First)" in exc.message_en
    assert TrustedCertificate.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_a_certificate"),
        (b"\x30\x82\x01\x00garbage", "not_a_certificate"),
        (b"Hello, I am not a certificate.", "not_a_certificate"),
        (
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "not_a_certificate",
        ),
        (b"x" * (64 * 1024 + 1), "too_large"),
    ],
)
def test_bytes_that_are_not_a_certificate_are_refused(data, code):
    exc = refusal(data)
    assert exc.code == code
    assert exc.message_vi and exc.message_en


def test_a_pem_that_holds_something_else_is_not_a_certificate():
    public_key = (
        certs.private_key("p256")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert refusal(public_key).code == "not_a_certificate"


def test_a_file_with_a_private_key_is_refused_even_beside_a_good_certificate():
    root = certs.issue("Root TEST")
    key = root.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    exc = refusal(root.pem + key)
    assert exc.code == "contains_private_key"
    assert "khóa bí mật" in exc.message_vi


def test_a_bundle_of_several_certificates_is_refused_whole():
    bundle = certs.issue("Root A TEST").pem + certs.issue("Root B TEST").pem
    exc = refusal(bundle)
    assert exc.code == "several_certificates"
    assert "holds 2 certificates" in exc.message_en
    assert not TrustedCertificate.objects.exists()


def test_an_unknown_hierarchy_or_kind_is_refused():
    root = certs.issue("Root TEST")
    assert refusal(root, hierarchy="military").code == "unknown_hierarchy"
    assert refusal(root, kind="leaf").code == "unknown_kind"


# --- Enabling and disabling --------------------------------------------------


def test_disabling_a_root_removes_it_from_the_anchors_and_is_audited(operator):
    trusted = add(certs.issue("Root TEST"))

    services.set_enabled(actor=operator, trusted=trusted, enabled=False, source="admin")

    trusted.refresh_from_db()
    assert not trusted.is_enabled
    assert selectors.anchors() == []
    record = AuditRecord.objects.get(action="update", object_id=str(trusted.pk))
    assert record.actor == operator
    assert record.changes == {"is_enabled": [True, False]}

    services.set_enabled(actor=operator, trusted=trusted, enabled=True, source="admin")
    assert len(selectors.anchors()) == 1
    assert AuditRecord.objects.filter(action="update").count() == 2


def test_asking_for_the_current_state_changes_and_records_nothing():
    trusted = add(certs.issue("Root TEST"))
    before = AuditRecord.objects.count()
    returned = services.set_enabled(actor="test", trusted=trusted, enabled=True, source="cli")
    assert returned.is_enabled
    assert AuditRecord.objects.count() == before


def test_an_expired_root_stops_being_an_anchor_without_anyone_acting():
    trusted = add(certs.issue("Short-lived Root TEST", days=10))
    assert len(selectors.anchors()) == 1
    with time_machine.travel(trusted.not_after + dt.timedelta(seconds=1)):
        assert selectors.anchors() == []
    assert selectors.trust_list().get() == trusted  # still listed, for history


def test_disabled_intermediates_are_not_offered():
    root = certs.issue("Root TEST")
    intermediate = add(certs.issue("Issuing CA TEST", issuer=root), kind="intermediate")
    services.set_enabled(actor="test", trusted=intermediate, enabled=False, source="cli")
    assert selectors.other_certificates() == []


def test_the_list_can_be_read_by_hierarchy_and_state():
    public = add(certs.issue("Public Root TEST"), hierarchy="public")
    government = add(certs.issue("Government Root TEST"), hierarchy="government")
    services.set_enabled(actor="test", trusted=government, enabled=False, source="cli")
    assert list(selectors.trust_list()) == [government, public]
    assert list(selectors.trust_list(hierarchy="public")) == [public]
    assert list(selectors.trust_list(enabled=False)) == [government]


# --- Finding a certificate by fingerprint ------------------------------------


def test_a_certificate_is_found_by_its_fingerprint_or_a_prefix_of_it():
    root = certs.issue("Root TEST")
    trusted = add(root)
    with_colons = ":".join(root.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert selectors.by_fingerprint(root.fingerprint) == trusted
    assert selectors.by_fingerprint(with_colons) == trusted
    assert selectors.by_fingerprint(root.fingerprint[:8].upper()) == trusted
    assert selectors.by_fingerprint(with_colons[:11]) == trusted  # "AB:CD:EF:01"


def test_a_prefix_shared_by_two_certificates_is_ambiguous():
    listed("abcdef01" + "0" * 56, "A")
    listed("abcdef01" + "1" * 56, "B")
    with pytest.raises(TrustedCertificate.MultipleObjectsReturned):
        selectors.by_fingerprint("ABCDEF01")
    assert selectors.by_fingerprint("abcdef011").name == "B"


@pytest.mark.parametrize(
    ("text", "problem"),
    [("abcdef0", "too short"), ("abcdefgh", "not a SHA-256 fingerprint"), ("a" * 65, "not a")],
)
def test_what_is_not_a_fingerprint_is_a_value_error(text, problem):
    with pytest.raises(ValueError, match=problem):
        selectors.by_fingerprint(text)


def test_an_unknown_fingerprint_is_not_found():
    with pytest.raises(TrustedCertificate.DoesNotExist):
        selectors.by_fingerprint("00" * 32)
