"""XML signatures (XAdES, and plain XML-DSig) inside the validation sandbox.

signxml checks the references and the signature value against the signer's
certificate taken from ds:KeyInfo; pyhanko-certvalidator then builds and
validates the path to a trusted root (either hierarchy) with revocation
checking, exactly as for PDFs.
"""

from __future__ import annotations

import base64
from typing import Any

from asn1crypto import x509
from lxml import etree
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator import errors as cv_errors

from lienthong.trust.validation import certificates
from lienthong.trust.validation.engine import Unreadable, _hierarchy
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


def _check_signature(data: bytes, candidates: list[x509.Certificate]):
    """Return (signer certificate, format, problem code or None)."""
    from signxml import XMLVerifier
    from signxml import exceptions as sx
    from signxml.xades import XAdESVerifier

    problem = "SIG_CRYPTO_FAILURE"
    for candidate in candidates:
        for verifier, fmt in ((XAdESVerifier(), "XAdES"), (XMLVerifier(), "XMLDSig")):
            try:
                verifier.verify(data, x509_cert=_pem(candidate))
                return candidate, fmt, None
            except sx.InvalidDigest:
                return candidate, fmt, "HASH_FAILURE"
            except sx.InvalidInput:
                continue  # not XAdES: try plain XML-DSig
            except (sx.InvalidSignature, sx.InvalidCertificate):
                break  # this certificate did not sign: try the next one
    return (candidates[0] if candidates else None), "XAdES", problem


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
    result.coverage = "entire_document" if problem is None else None

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
    result.modified_after_signing = False
    if (result.digest_algorithm or "").lower() in {"sha1", "md5"}:
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
    except cv_errors.RevokedError:
        result.revocation = {"status": "revoked"}
        return verdict(Indication.TOTAL_FAILED, "REVOKED")
    except cv_errors.PathBuildingError:
        result.revocation = {"status": "not_checked"}
        return verdict(
            Indication.INDETERMINATE, "NO_CERTIFICATE_CHAIN_FOUND", Reason("untrusted_root")
        )
    except cv_errors.ExpiredError:
        return verdict(Indication.INDETERMINATE, "OUT_OF_BOUNDS_NO_POE")
    except cv_errors.NotYetValidError:
        return verdict(Indication.INDETERMINATE, "NOT_YET_VALID")
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
    result.revocation = {"status": "good"}
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
