"""What the trust list hands to path validation: a chain ends at a root of either hierarchy."""

import asyncio

import pytest
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError

from lienthong.trust import selectors, services
from lienthong.trust.tests import certs

pytestmark = pytest.mark.django_db


def add(issued, *, hierarchy, kind):
    return services.add_certificate(actor="test", data=issued.der, hierarchy=hierarchy, kind=kind)


def validated_path(leaf):
    context = ValidationContext(
        trust_roots=selectors.anchors(), other_certs=selectors.other_certificates()
    )
    validator = CertificateValidator(leaf.asn1, validation_context=context)
    return asyncio.run(validator.async_validate_usage({"digital_signature"}))


@pytest.fixture
def pki():
    """A public hierarchy (root → CA → citizen) and a government one (root → official),
    with the government root cross-certified by the public root."""
    public_root = certs.issue("NEAC Root TEST", key="rsa2048")
    public_ca = certs.issue("Public CA TEST", issuer=public_root)
    citizen = certs.issue("Trần Thị Bình TEST", ca=False, issuer=public_ca)
    government_root = certs.issue("Government Root TEST", key="rsa3072")
    official = certs.issue("Lê Văn Cường TEST", ca=False, issuer=government_root)
    cross = certs.issue("Government Root TEST", issuer=public_root, subject_key=government_root.key)
    return {
        "public_root": public_root,
        "public_ca": public_ca,
        "citizen": citizen,
        "government_root": government_root,
        "official": official,
        "cross": cross,
    }


def test_signers_of_both_hierarchies_chain_to_their_own_root(pki):
    add(pki["public_root"], hierarchy="public", kind="root")
    add(pki["public_ca"], hierarchy="public", kind="intermediate")
    add(pki["government_root"], hierarchy="government", kind="root")

    citizen_path = validated_path(pki["citizen"])
    official_path = validated_path(pki["official"])

    assert selectors.hierarchy_of(citizen_path.trust_anchor.authority.certificate) == "public"
    assert selectors.hierarchy_of(official_path.trust_anchor.authority.certificate) == "government"


def test_a_disabled_root_anchors_nothing(pki):
    root = add(pki["government_root"], hierarchy="government", kind="root")
    services.set_enabled(actor="test", trusted=root, enabled=False, source="cli")
    with pytest.raises(PathBuildingError):
        validated_path(pki["official"])


def test_a_cross_certificate_leads_to_the_other_hierarchys_root(pki):
    """With only the public root trusted, an official's certificate chains through
    the cross-certificate that the public root issued for the government root."""
    add(pki["public_root"], hierarchy="public", kind="root")
    add(pki["cross"], hierarchy="government", kind="cross")

    path = validated_path(pki["official"])

    assert selectors.hierarchy_of(path.trust_anchor.authority.certificate) == "public"
    assert pki["cross"].fingerprint in {c.sha256.hex() for c in path.iter_certs(include_root=False)}
