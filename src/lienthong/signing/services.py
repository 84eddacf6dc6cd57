"""Remote signing: credentials, access tokens, authorising hashes, signing them.

Each function takes keyword arguments, names who acts, and writes its audit
record in its own transaction. A refusal is audited too — in a transaction
of its own, since the change it refused rolled back — and raised as
``SigningRefused``. Audit records carry hash values, credential IDs and
certificate fingerprints, never a document.

The security model (docs/signing.md): a credential's key signs only a hash
the user authorised, with the credential, within SIGNING_SAD_SECONDS, once.
The authorisation needs a fresh second factor (a TOTP or SMS code, checked
by lienthong.identity with its replay rules and lockout) or an approval
request the user approved on their phone (lienthong.approvals).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from lienthong.audit import services as audit
from lienthong.audit.models import AuditRecord
from lienthong.identity import factors, signin, throttle
from lienthong.identity.models import Account
from lienthong.signing import keys, selectors
from lienthong.signing.errors import SigningRefused, invalid_sad, no_credential
from lienthong.signing.models import (
    CredentialStatus,
    SignatureAuthorization,
    SigningCredential,
)

DIGEST_BYTES = 32  # SHA-256
SIGN_ALGORITHMS = (keys.ECDSA_WITH_SHA256, keys.EC_PUBLIC_KEY)
_ECDSA_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _hex(digests: list[bytes]) -> list[str]:
    return [d.hex() for d in digests]


def _audited_refusal(
    *,
    actor: Any,
    action: str,
    refusal: SigningRefused,
    changes: dict,
    source: str,
    credential: SigningCredential | None = None,
) -> None:
    with transaction.atomic():
        audit.record(
            actor=actor,
            action=action,
            obj=credential,
            object_type="" if credential else "signing.signingcredential",
            changes={**changes, "refused": refusal.code},
            source=source,
        )


# --- Credentials ------------------------------------------------------------------


@transaction.atomic
def create_credential(*, actor: Any, user: Any, label: str = "", source: str) -> SigningCredential:
    """A new P-256 key for ``user`` and its certificate request; it signs once certified."""
    credential_id = keys.new_credential_id()
    public, sealed, private_key = keys.generate(credential_id)
    request = keys.certificate_request(private_key, keys.subject_for(user))
    del private_key
    credential = SigningCredential.objects.create(
        user=user,
        credential_id=credential_id,
        label=label.strip()[:200],
        public_key=public,
        sealed_private_key=sealed,
        certificate_request=request,
    )
    audit.record(
        actor=actor,
        action=AuditRecord.Action.CREATE,
        obj=credential,
        changes={
            "credential_id": credential_id,
            "holder": user.get_username(),
            "key_algorithm": credential.key_algorithm,
            "public_key_sha256": hashlib.sha256(public).hexdigest(),
        },
        source=source,
    )
    return credential


@transaction.atomic
def import_certificate(
    *, actor: Any, credential: SigningCredential, data: bytes, source: str
) -> SigningCredential:
    """Attach the certificate a CA issued for the credential's key (PEM with its issuers, or DER).

    Refused (SigningRefused, nothing written) when no certificate matches the
    key, it does not allow signing, is a CA's, or has expired.
    """
    credential = SigningCredential.objects.select_for_update().get(pk=credential.pk)
    leaf, chain = keys.check_certificate(credential, keys.read_certificates(data))
    credential.certificate = leaf.public_bytes(Encoding.DER)
    credential.chain = keys.chain_b64(chain)
    credential.fingerprint_sha256 = leaf.fingerprint(hashes.SHA256()).hex()
    credential.subject = leaf.subject.rfc4514_string()[:500]
    credential.issuer = leaf.issuer.rfc4514_string()[:500]
    credential.serial_number = format(leaf.serial_number, "x")
    credential.not_before = leaf.not_valid_before_utc
    credential.not_after = leaf.not_valid_after_utc
    if credential.status == CredentialStatus.AWAITING_CERTIFICATE:
        credential.status = CredentialStatus.ACTIVE
    credential.save()
    audit.record(
        actor=actor,
        action=AuditRecord.Action.IMPORT,
        obj=credential,
        changes={
            "credential_id": credential.credential_id,
            "fingerprint_sha256": credential.fingerprint_sha256,
            "subject": credential.subject,
            "issuer": credential.issuer,
            "not_before": credential.not_before.isoformat(),
            "not_after": credential.not_after.isoformat(),
            "status": credential.status,
        },
        source=source,
    )
    return credential


def issue_test_certificate(
    *, actor: Any, credential: SigningCredential, pki, source: str
) -> SigningCredential:
    """Demo and tests: a TEST CA of ``pki`` certifies the credential's request, then it is
    imported as a licensed CA's answer would be. Never for production."""
    ca = keys.test_ca_for(credential.user)
    issued = keys.issue_with_test_ca(
        pki=pki, ca=ca, request_der=bytes(credential.certificate_request)
    )
    pem = b"".join(c.public_bytes(Encoding.PEM) for c in issued)
    return import_certificate(actor=actor, credential=credential, data=pem, source=source)


@transaction.atomic
def set_enabled(
    *, actor: Any, credential: SigningCredential, enabled: bool, source: str
) -> SigningCredential:
    credential = SigningCredential.objects.select_for_update().get(pk=credential.pk)
    before = credential.status
    if enabled:
        credential.status = (
            CredentialStatus.ACTIVE
            if credential.certificate
            else CredentialStatus.AWAITING_CERTIFICATE
        )
    else:
        credential.status = CredentialStatus.DISABLED
    if credential.status != before:
        credential.save(update_fields=["status"])
        audit.record(
            actor=actor,
            action=AuditRecord.Action.UPDATE,
            obj=credential,
            changes={"status": [before, credential.status]},
            source=source,
        )
    return credential


# --- Authorising hashes (credentials/authorize) ----------------------------------


@dataclass(frozen=True)
class IssuedAuthorization:
    sad: str  # the signature activation data: give it to signHash, never store it
    expires_in: int
    authorization: SignatureAuthorization


def _check_rate(user: Any) -> bool:
    """A fixed window per user: at most SIGNING_AUTHORIZE_PER_MINUTE attempts a minute,
    counted in lienthong.identity.throttle's store (atomic, shared by every process)."""
    allowed = settings.SIGNING_AUTHORIZE_PER_MINUTE
    # Counted before it is checked: "locked" from the (allowed + 1)-th attempt on.
    limit = throttle.Limit("signing-authorize", allowed + 1, allowed + 1, 60)
    subject = f"user:{user.pk}"
    throttle.record_failure(subject=subject, address=None, limit=limit)
    return not throttle.is_locked(subject=subject, address=None, limit=limit)


def _usable(user: Any, credential_id: str) -> SigningCredential:
    credential = selectors.credential_for(user, credential_id)
    if credential is None:
        raise no_credential()
    if not credential.is_usable():
        raise SigningRefused(
            "credential_not_usable",
            "Khóa ký chưa có chứng thư số còn hiệu lực hoặc đã bị khóa.",
            "The credential has no valid certificate or is disabled.",
            csc_error="invalid_request",
        )
    return credential


def _check_digests(digests: list[bytes], parameter: str = "hash") -> None:
    if not digests or any(not isinstance(d, bytes) or len(d) != DIGEST_BYTES for d in digests):
        raise SigningRefused(
            "invalid_hash",
            f"Tham số {parameter} phải là danh sách các giá trị băm SHA-256 (base64).",
            f"Invalid parameter {parameter}: a list of base64 SHA-256 hash values is required.",
        )
    if len(digests) > settings.SIGNING_MAX_BATCH:
        raise SigningRefused(
            "too_many_hashes",
            f"Mỗi lần chỉ ký tối đa {settings.SIGNING_MAX_BATCH} giá trị băm.",
            f"At most {settings.SIGNING_MAX_BATCH} hashes can be signed at once.",
        )


def authorize(
    *,
    user: Any,
    credential_id: str,
    digests: list[bytes],
    num_signatures: int | None = None,
    otp: str | None = None,
    otp_method: str | None = None,
    approval_id: str | None = None,
    description: str = "",
    address: str | None = None,
    source: str,
) -> IssuedAuthorization:
    """Let ``user`` sign exactly ``digests`` with the credential, once, within SIGNING_SAD_SECONDS.

    Proof of the user's will is either ``otp`` — a code of their authenticator
    app (``otp_method`` "totp", the default when they have one) or an SMS code
    ("sms") — or ``approval_id``, a signature approval they approved on their
    phone for exactly these hashes. Refused (SigningRefused, audited):
    unknown or unusable credential, malformed hashes, numSignatures not their
    count, too many attempts, a wrong, reused or missing code, a locked
    factor, an approval that is not approved or not for these hashes.
    """
    changes: dict[str, Any] = {"credential_id": credential_id, "hashes": []}
    credential = None
    try:
        credential = _usable(user, credential_id)
        _check_digests(digests)
        changes["hashes"] = _hex(digests)
        if num_signatures is not None and num_signatures != len(digests):
            raise SigningRefused(
                "num_signatures_mismatch",
                "numSignatures phải bằng số giá trị băm gửi kèm.",
                "Invalid parameter numSignatures: it must equal the number of hashes.",
            )
        if not _check_rate(user):
            raise SigningRefused(
                "rate_limited",
                "Quá nhiều yêu cầu cấp quyền ký. Vui lòng thử lại sau một phút.",
                "Too many authorisation requests. Try again in a minute.",
                csc_error="access_denied",
                status=429,
            )
        if approval_id:
            method = SignatureAuthorization.Method.APPROVAL
            _consume_approval(user=user, approval_id=approval_id, digests=digests, source=source)
        elif otp:
            method = _check_otp(
                user=user, otp=otp, otp_method=otp_method, address=address, source=source
            )
        else:
            raise SigningRefused(
                "authorization_required",
                "Cần mã OTP hoặc yêu cầu phê duyệt trên điện thoại để cấp quyền ký.",
                "An OTP or an approval on the phone is required to authorise signing.",
            )
    except SigningRefused as refusal:
        _audited_refusal(
            actor=user,
            action="authorize_refused",
            refusal=refusal,
            changes=changes,
            source=source,
            credential=credential,
        )
        raise
    return issue_authorization(
        user=user,
        credential=credential,
        digests=digests,
        method=method,
        approval_id=approval_id or "",
        description=description,
        changes=changes,
        source=source,
    )


def issue_authorization(
    *,
    user: Any,
    credential: SigningCredential,
    digests: list[bytes],
    method: str,
    approval_id: str = "",
    description: str = "",
    changes: dict | None = None,
    source: str,
) -> IssuedAuthorization:
    """The SAD for ``digests``, once the user's will is proven (``authorize`` proves it;
    call this directly only where it was proven otherwise)."""
    sad = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        authorization = SignatureAuthorization.objects.create(
            credential=credential,
            user=user,
            sad_hash=_sha256(sad),
            hashes=[base64.b64encode(d).decode("ascii") for d in digests],
            method=method,
            approval_id=approval_id,
            description=description[:500],
            created_at=now,
            expires_at=now + timedelta(seconds=settings.SIGNING_SAD_SECONDS),
        )
        audit.record(
            actor=user,
            action="signing_authorized",
            obj=credential,
            changes={
                **(changes or {"credential_id": credential.credential_id, "hashes": _hex(digests)}),
                "method": method,
                "authorization": authorization.pk,
                "approval_id": approval_id or None,
                "expires_at": authorization.expires_at.isoformat(),
            },
            source=source,
        )
    return IssuedAuthorization(
        sad=sad, expires_in=settings.SIGNING_SAD_SECONDS, authorization=authorization
    )


def _check_otp(
    *, user: Any, otp: str, otp_method: str | None, address: str | None, source: str
) -> str:
    """The identity app checks the code: each TOTP step and SMS code once, failures
    counted toward the same lockout as signing in."""
    available = signin.available_factors(user)
    if otp_method is None:
        otp_method = "totp" if signin.Method.TOTP in available else "sms"
    if otp_method not in ("totp", "sms"):
        raise SigningRefused(
            "unknown_otp_method",
            "Loại mã OTP không hợp lệ (totp hoặc sms).",
            "Unknown OTP method (totp or sms).",
        )
    outcome = signin.check_code(
        user=user, method=signin.Method(otp_method), code=str(otp), address=address, source=source
    )
    if outcome is signin.Outcome.LOCKED:
        minutes = settings.IDENTITY_LOCKOUT_SECONDS // 60
        raise SigningRefused(
            "locked",
            f"Quá nhiều lần nhập mã sai. Vui lòng chờ {minutes} phút rồi thử lại.",
            f"Too many wrong codes. Please wait {minutes} minutes and try again.",
            csc_error="access_denied",
            status=429,
        )
    if outcome is not signin.Outcome.OK:
        raise SigningRefused(
            "invalid_otp",
            "Mã OTP không đúng, đã dùng hoặc đã hết hạn.",
            "Invalid parameter OTP: the code is wrong, used or expired.",
            csc_error="invalid_request",
        )
    return otp_method


def send_otp(*, user: Any, credential_id: str, source: str) -> None:
    """credentials/sendOTP: an SMS code to the account's confirmed phone."""
    credential = selectors.credential_for(user, credential_id)
    if credential is None:
        raise no_credential()
    account = Account.objects.filter(user=user).first()
    if account is None or not account.sms_enabled or not account.phone:
        raise SigningRefused(
            "sms_not_enabled",
            "Tài khoản chưa bật nhận mã qua SMS.",
            "SMS codes are not enabled for this account.",
        )
    try:
        factors.send_sms_code(user=user, phone=account.phone)
    except factors.SmsTooSoon as exc:
        raise SigningRefused(
            "sms_too_soon",
            "Mã vừa được gửi; vui lòng chờ một phút trước khi yêu cầu mã mới.",
            "A code was just sent; wait a minute before asking for another.",
            status=429,
            csc_error="access_denied",
        ) from exc


# The phone-approval path: lienthong.approvals keeps signature approval
# requests. The request must have been made (request_approval, kind
# "signature") for the hashes as CSC writes them: base64 of each SHA-256.
def _consume_approval(*, user: Any, approval_id: str, digests: list[bytes], source: str) -> None:
    from lienthong.approvals import services as approvals

    try:
        approvals.consume(
            request_id=approval_id,
            user=user,
            kind="signature",
            hashes=[base64.b64encode(d).decode("ascii") for d in digests],
            source=source,
        )
    except approvals.ApprovalRefused as exc:
        # The approvals app's codes are stable too: approval_pending,
        # approval_denied, approval_expired, approval_consumed,
        # approval_other_hashes, approval_not_found.
        raise SigningRefused(
            exc.code, exc.message_vi, exc.message_en, csc_error="access_denied"
        ) from exc


# --- Signing hashes (signatures/signHash) ----------------------------------------


def sign_hashes(
    *,
    user: Any,
    credential_id: str,
    sad: str,
    digests: list[bytes],
    sign_algo: str = keys.ECDSA_WITH_SHA256,
    hash_algo: str | None = None,
    source: str,
) -> list[bytes]:
    """DER ECDSA signatures of ``digests``, in order, spending the SAD.

    Refused (SigningRefused, audited, nothing signed): the credential is not
    the user's or not usable; the SAD is unknown or altered, someone else's,
    for another credential, spent, or expired; a hash was not authorised by
    it (which spends it: whoever holds a SAD and tries other hashes loses it);
    an algorithm other than ECDSA with SHA-256.
    """
    changes: dict[str, Any] = {"credential_id": credential_id, "hashes": []}
    authorization_pk = None
    try:
        with transaction.atomic():
            _check_digests(digests)
            changes["hashes"] = _hex(digests)
            _check_algorithms(sign_algo, hash_algo)
            # One query finds the SAD and its credential (three in all on the way
            # to a signature: this, spending it, the audit record).
            authorization = (
                SignatureAuthorization.objects.select_for_update(of=("self",))
                .select_related("credential")
                .filter(sad_hash=_sha256(sad or ""), user=user)
                .first()
            )
            credential = authorization.credential if authorization is not None else None
            if credential is None or credential.credential_id != credential_id:
                if selectors.credential_for(user, credential_id) is None:
                    raise no_credential()
                if authorization is None:
                    raise invalid_sad()
                raise SigningRefused(
                    "sad_credential_mismatch",
                    "SAD được cấp cho một khóa ký khác.",
                    "Invalid parameter SAD: it was issued for another credential.",
                )
            authorization_pk = authorization.pk
            changes["authorization"] = authorization.pk
            if not credential.is_usable():
                raise SigningRefused(
                    "credential_not_usable",
                    "Khóa ký chưa có chứng thư số còn hiệu lực hoặc đã bị khóa.",
                    "The credential has no valid certificate or is disabled.",
                )
            now = timezone.now()
            if authorization.used_at is not None:
                raise SigningRefused(
                    "sad_used",
                    "SAD đã được dùng; mỗi lần cấp quyền chỉ ký một lần.",
                    "Invalid parameter SAD: it has been used already.",
                )
            if authorization.expires_at <= now:
                raise SigningRefused(
                    "sad_expired",
                    "SAD đã hết hạn; hãy cấp quyền ký lại.",
                    "SAD expired: authorise again.",
                )
            authorised = Counter(base64.b64decode(h) for h in authorization.hashes)
            if Counter(digests) - authorised:
                raise SigningRefused(
                    "hash_not_authorized",
                    "Có giá trị băm không nằm trong danh sách đã được cấp quyền ký.",
                    "Invalid parameter hash: a hash was not authorised by this SAD.",
                )
            authorization.used_at = now
            authorization.save(update_fields=["used_at"])
            private_key = keys.load_private_key(credential)
            signatures = [private_key.sign(digest, _ECDSA_PREHASHED) for digest in digests]
            del private_key
            audit.record(
                actor=user,
                action="signature_created",
                obj=credential,
                changes={
                    **changes,
                    "method": authorization.method,
                    "fingerprint_sha256": credential.fingerprint_sha256,
                },
                source=source,
            )
    except SigningRefused as refusal:
        if refusal.code == "hash_not_authorized" and authorization_pk is not None:
            SignatureAuthorization.objects.filter(pk=authorization_pk, used_at__isnull=True).update(
                used_at=timezone.now()
            )
        _audited_refusal(
            actor=user,
            action="sign_refused",
            refusal=refusal,
            changes=changes,
            source=source,
            credential=selectors.credential_for(user, credential_id),
        )
        raise
    return signatures


def _check_algorithms(sign_algo: str, hash_algo: str | None) -> None:
    if sign_algo not in SIGN_ALGORITHMS:
        raise SigningRefused(
            "unsupported_algorithm",
            "Thuật toán ký không được hỗ trợ (chỉ ECDSA với SHA-256).",
            "Invalid parameter signAlgo: only ECDSA with SHA-256 is supported.",
        )
    if hash_algo not in (None, "", keys.SHA256):
        raise SigningRefused(
            "unsupported_algorithm",
            "Thuật toán băm không được hỗ trợ (chỉ SHA-256).",
            "Invalid parameter hashAlgo: only SHA-256 is supported.",
        )
