"""XML signatures (XAdES, and plain XML-DSig) inside the validation sandbox.

signxml checks the references and the signature value against the signer's
certificate taken from ds:KeyInfo; pyhanko-certvalidator then builds and
validates the path to a trusted root (either hierarchy) with revocation
checking, exactly as for PDFs.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from asn1crypto import x509
from lxml import etree
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors

from lienthong.trust.validation import certificates
from lienthong.trust.validation.engine import Unreadable, _hierarchy, answered
from lienthong.trust.validation.report import Indication, Reason, SignatureResult

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
# No DTDs, no entities, no network: XML from strangers must not reach out or blow up.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=False
)


def _parse(data: bytes) -> etree._Element:
    try:
        return etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise Unreadable(f"XML: {exc}") from exc


def _key_info_certificates(signature: etree._Element) -> list[x509.Certificate]:
    found = []
    for element in signature.iter(f"{{{DS}}}X509Certificate"):
        try:
            found.append(x509.Certificate.load(base64.b64decode("".join(element.text.split()))))
        except (ValueError, TypeError, AttributeError):
            continue
    return found


def _pem(certificate: x509.Certificate) -> str:
    body = base64.encodebytes(certificate.dump()).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def _expect(config_class, candidate: x509.Certificate):
    """What signxml is asked to check: the signature's cryptography, nothing else.

    SHA-1 is admitted, so that the policy check after it names the weak digest
    (CRYPTO_CONSTRAINTS_FAILURE) instead of the signature ending as one that
    does not match; and the certificate's dates are the path validation's
    question (an expired signer is OUT_OF_BOUNDS_NO_POE), so signxml checks at
    a moment the certificate was valid.
    """
    from signxml import DigestAlgorithm, SignatureMethod

    return dataclasses.replace(
        config_class(),
        signature_methods=frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC")),
        digest_algorithms=frozenset(DigestAlgorithm),
        verification_time=candidate.not_valid_before,
    )


def _check_signature(data: bytes, candidates: list[x509.Certificate]):
    """Return (signer certificate, format, problem code or None)."""
    from signxml import SignatureConfiguration, XMLVerifier
    from signxml import exceptions as sx
    from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

    problem = "SIG_CRYPTO_FAILURE"
    for candidate in candidates:
        for verifier, fmt, config in (
            (XAdESVerifier(), "XAdES", XAdESSignatureConfiguration),
            (XMLVerifier(), "XMLDSig", SignatureConfiguration),
        ):
            try:
                verifier.verify(
                    data, x509_cert=_pem(candidate), expect_config=_expect(config, candidate)
                )
                return candidate, fmt, None
            except sx.InvalidDigest:
                return candidate, fmt, "HASH_FAILURE"
            except (sx.InvalidInput, sx.InvalidSignature, sx.InvalidCertificate):
                # Not XAdES (signxml's XAdES verifier refuses a plain XML-DSig
                # signature as InvalidSignature: "expected 3 references"), or
                # not this certificate: try plain XML-DSig, then the next one.
                continue
    return (candidates[0] if candidates else None), "XAdES", problem


def _covers_whole_document(signature: etree._Element) -> bool:
    """Whether a reference signs the whole document (URI="", enveloped, only canonicalised).

    A reference to one element (URI="#id") leaves the rest of the file unsigned:
    such a signature is reported as covering part of the document.
    """
    for reference in signature.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference"):
        if reference.get("URI") != "":
            continue
        transforms = [
            t.get("Algorithm", "")
            for t in reference.iterfind(f"{{{DS}}}Transforms/{{{DS}}}Transform")
        ]
        if all(a == f"{DS}enveloped-signature" or "c14n" in a for a in transforms):
            return True
    return False


async def validate(
    data: bytes, context: ValidationContext, job: dict[str, Any]
) -> list[SignatureResult]:
    root = _parse(data)
    signatures = list(root.iter(f"{{{DS}}}Signature"))
    if not signatures:
        return []
    results = []
    for index, signature in enumerate(signatures, start=1):
        if len(signatures) > 1:
            results.append(
                SignatureResult(
                    index=index,
                    format="XAdES",
                    indication=Indication.INDETERMINATE,
                    sub_indication="FORMAT_FAILURE",
                    reasons=[Reason("unsupported_format", "several XML signatures in one file")],
                    signer=None,
                )
            )
            continue
        results.append(await _validate_one(data, signature, context, job))
    return results


async def _validate_one(data: bytes, signature, context, job) -> SignatureResult:
    candidates = _key_info_certificates(signature)
    signer, fmt, problem = _check_signature(data, candidates)
    result = SignatureResult(
        index=1,
        format=fmt,
        indication=Indication.TOTAL_PASSED,
        sub_indication=None,
        reasons=[],
        signer=certificates.describe(signer) if signer is not None else None,
    )
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}SignatureMethod")
    if method is not None:
        result.signature_algorithm = method.get("Algorithm", "").rsplit("#", 1)[-1]
    digest = signature.find(f".//{{{DS}}}Reference/{{{DS}}}DigestMethod")
    if digest is not None:
        result.digest_algorithm = digest.get("Algorithm", "").rsplit("#", 1)[-1]
    signing_time = signature.find(f".//{{{XADES}}}SigningTime")
    if signing_time is not None and signing_time.text:
        result.claimed_signing_time = signing_time.text.strip()
    if problem is None:
        result.coverage = "entire_document" if _covers_whole_document(signature) else "partial"

    def verdict(indication: Indication, sub: str, *reasons: Reason) -> SignatureResult:
        result.indication, result.sub_indication = indication, sub
        result.reasons.extend(reasons)
        return result

    if signer is None:
        return verdict(Indication.INDETERMINATE, "NO_SIGNING_CERTIFICATE_FOUND")
    if problem == "HASH_FAILURE":
        result.modified_after_signing = True
        return verdict(Indication.TOTAL_FAILED, "HASH_FAILURE", Reason("xml_reference_mismatch"))
    if problem is not None:
        return verdict(Indication.TOTAL_FAILED, problem)
    # What lies outside a partial signature may have changed: nobody can tell.
    result.modified_after_signing = False if result.coverage == "entire_document" else None
    algorithms = [result.signature_algorithm or ""] + [
        method.get("Algorithm", "").rsplit("#", 1)[-1]
        for method in signature.iterfind(
            f"{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}DigestMethod"
        )
    ]
    if any({"sha1", "md5"} & set(name.lower().split("-")) for name in algorithms):
        return verdict(
            Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", Reason("weak_digest")
        )

    validator = CertificateValidator(
        signer,
        intermediate_certs=[c for c in candidates if c is not signer],
        validation_context=context,
    )
    try:
        path = await validator.async_validate_usage(set())
    except cv_errors.RevokedError as exc:
        # When and why, as the PDF and CMS reports say it.
        result.revocation = {
            "status": "revoked",
            "revoked_at": exc.revocation_dt.isoformat() if exc.revocation_dt else None,
            "reason": exc.reason.native if exc.reason is not None else None,
            "ca_revoked": not exc.is_ee_cert,
        }
        if not exc.is_ee_cert:
            # ETSI EN 319 102-1: nothing proves the signature predates the CA's revocation.
            return verdict(Indication.INDETERMINATE, "REVOKED_CA_NO_POE")
        return verdict(Indication.TOTAL_FAILED, "REVOKED")
    except cv_errors.PathBuildingError:
        result.revocation = {"status": "not_checked"}
        return verdict(
            Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", Reason("untrusted_root")
        )
    except cv_errors.ExpiredError:
        return verdict(Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")
    except cv_errors.NotYetValidError:
        # No timestamp: the best signature time is now, before the certificate's
        # validity began (ETSI EN 319 102-1), as engine.py judges PDF and CMS.
        return verdict(Indication.TOTAL_FAILED, "NOT_YET_VALID")
    except cv_errors.InsufficientRevinfoError:
        result.revocation = {"status": "unknown"}
        return verdict(Indication.INDETERMINATE, "TRY_LATER", Reason("revocation_unknown"))
    except cv_errors.DisallowedAlgorithmError:
        return verdict(
            Indication.INDETERMINATE, "CRYPTO_CONSTRAINTS_FAILURE", Reason("weak_digest")
        )
    except (cv_errors.PathValidationError, cv_errors.InvalidCertificateError) as exc:
        return verdict(
            Indication.INDETERMINATE,
            "CERTIFICATE_CHAIN_GENERAL_FAILURE",
            Reason("untrusted_root", str(exc)[:200]),
        )
    chain = list(path)
    result.chain = [certificates.describe(c) for c in reversed(chain)]
    result.hierarchy = _hierarchy(chain, job)
    result.revocation = answered(signer, context)
    weak = [c for c in chain if certificates.key_is_weak(c)]
    if weak:
        return verdict(
            Indication.INDETERMINATE,
            "CRYPTO_CONSTRAINTS_FAILURE",
            Reason("weak_key", certificates.key_description(weak[0])),
        )
    usage = signer.key_usage_value.native if signer.key_usage_value else []
    if usage and not ({"digital_signature", "non_repudiation"} & set(usage)):
        return verdict(Indication.INDETERMINATE, "CHAIN_CONSTRAINTS_FAILURE", Reason("key_usage"))
    return result
