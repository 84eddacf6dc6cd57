"""Passkeys (WebAuthn) through py_webauthn: registering, signing in, renaming, revoking.

The ceremonies are two requests each: the server hands out options with a
fresh random challenge (kept in the session by the view), the browser asks
the authenticator, and the server checks the answer here against that
challenge, the relying-party id and the accepted origins. The view pops the
challenge before checking, so a challenge answers exactly one ceremony and a
replayed response finds none.

Sign-in uses discoverable credentials: no user name is asked, the
authenticator offers the passkeys it holds for this site and returns the
user handle, a random value (``WebAuthnUser``) rather than a database id.
User verification (biometric or PIN) is required, so a passkey alone is a
multi-factor sign-in.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    decode_credential_public_key,
    decoded_public_key_to_cryptography,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_client_data_json,
    verify_signature,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidJSONStructure,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    ClientDataType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    TokenBindingStatus,
    UserVerificationRequirement,
)

from lienthong.errors import ApiError
from lienthong.identity.models import Account, Passkey, WebAuthnUser
from lienthong.identity.services import record_about_account

TIMEOUT_MS = 120_000


class PasskeyRefused(ApiError):
    pass


def _refused(code: str, vi: str, en: str) -> PasskeyRefused:
    return PasskeyRefused(status=400, code=code, message_vi=vi, message_en=en)


def not_verified() -> PasskeyRefused:
    # One answer for every failed check: which check failed is for the log, not the caller.
    return _refused(
        "passkey_not_verified",
        "Không xác minh được khóa truy cập. Vui lòng thử lại.",
        "The passkey could not be verified. Please try again.",
    )


def no_challenge() -> PasskeyRefused:
    return _refused(
        "passkey_no_challenge",
        "Phiên xác thực đã hết hạn hoặc đã được dùng. Vui lòng bắt đầu lại.",
        "The verification has expired or was already used. Please start again.",
    )


def _handle(user: Any) -> bytes:
    row, _created = WebAuthnUser.objects.get_or_create(
        user=user, defaults={"handle": secrets.token_bytes(32)}
    )
    return bytes(row.handle)


def registration_options(*, user: Any) -> tuple[str, bytes]:
    """Options for navigator.credentials.create(), as JSON, and their challenge."""
    account = Account.objects.filter(user=user).first()
    options = generate_registration_options(
        rp_id=settings.IDENTITY_RP_ID,
        rp_name=settings.IDENTITY_RP_NAME,
        user_name=user.get_username(),
        user_id=_handle(user),
        user_display_name=account.display_name if account else user.get_username(),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        # The same authenticator is not registered twice for one user.
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(p.credential_id))
            for p in Passkey.objects.filter(user=user)
        ],
    )
    return options_to_json(options), options.challenge


def authentication_options(*, user: Any = None) -> tuple[str, bytes]:
    """Options for navigator.credentials.get(). Without ``user``, any discoverable
    passkey of this site may answer (sign-in); with one, only theirs (step-up)."""
    allow = (
        [PublicKeyCredentialDescriptor(id=bytes(p.credential_id)) for p in user.passkeys.all()]
        if user is not None
        else []
    )
    options = generate_authentication_options(
        rp_id=settings.IDENTITY_RP_ID,
        timeout=TIMEOUT_MS,
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json(options), options.challenge


def _parse(credential: str | dict) -> dict:
    if isinstance(credential, str):
        try:
            credential = json.loads(credential)
        except ValueError as exc:
            raise not_verified() from exc
    if not isinstance(credential, dict):
        raise not_verified()
    return credential


@transaction.atomic
def register(
    *,
    user: Any,
    credential: str | dict,
    challenge: bytes,
    origins: list[str],
    name: str,
    source: str,
) -> Passkey:
    """Check a navigator.credentials.create() answer and store the passkey."""
    name = (name or "").strip()[:100]
    if not name:
        raise _refused(
            "passkey_name_required",
            "Vui lòng đặt tên cho khóa truy cập.",
            "Please give the passkey a name.",
        )
    try:
        verified = verify_registration_response(
            credential=_parse(credential),
            expected_challenge=challenge,
            expected_rp_id=settings.IDENTITY_RP_ID,
            expected_origin=origins,
            require_user_verification=True,
        )
    except (InvalidRegistrationResponse, InvalidJSONStructure, ValueError, KeyError) as exc:
        raise not_verified() from exc
    if Passkey.objects.filter(credential_id=verified.credential_id).exists():
        raise _refused(
            "passkey_already_registered",
            "Khóa truy cập này đã được đăng ký.",
            "This passkey is already registered.",
        )
    passkey = Passkey.objects.create(
        user=user,
        name=name,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=str(verified.aaguid),
    )
    record_about_account(
        actor=user,
        action="factor_added",
        user=user,
        changes={"factor": "passkey", "name": name},
        source=source,
    )
    return passkey


@functools.lru_cache(maxsize=1024)
def _public_key(cose_key: bytes) -> tuple[Any, Any]:
    """The stored COSE key as (COSE algorithm, ``cryptography`` public key).

    Decoding the CBOR and building the key object from its coordinates (which
    checks the point) is done once: a passkey's key never changes, so each
    process keeps the last 1,024 it used. The cache is keyed by the stored
    bytes themselves, so what it returns is always what those bytes decode to.
    """
    decoded = decode_credential_public_key(cose_key)
    return decoded.alg, decoded_public_key_to_cryptography(decoded)


@functools.lru_cache(maxsize=8)
def _rp_id_hash(rp_id: str) -> bytes:
    return hashlib.sha256(rp_id.encode("utf-8")).digest()


# What verifying needs of a passkey: the rest of the row loads on access (as .only()).
_LOOKED_UP = ("id", "user_id", "public_key", "sign_count")


def _placeholders(sql: str, vendor: str) -> str:
    """``sql`` written with %s, in the placeholder style of the DB-API driver."""
    return sql.replace("%s", "?") if vendor == "sqlite" else sql


def _execute(sql: str, params: list[Any]) -> tuple[Any, int]:
    """Run one statement of this module's sign-in path on the DB-API connection itself
    (the first row if any, the row count). Django's cursor wrapper (its thread and
    debug bookkeeping, and on SQLite the rewriting of %s by a regular expression)
    costs about as much as each of these two indexed statements; what the wrapper
    does that matters is kept: the connection is opened or reopened as usual,
    the statement joins an open transaction, and errors are Django's."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.queries_logged:  # DEBUG or a test capturing queries: the usual path
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return (cursor.fetchone() if cursor.description else None), cursor.rowcount
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor = db.connection.cursor()
        try:
            cursor.execute(_placeholders(sql, db.vendor), params)
            return (cursor.fetchone() if cursor.description else None), cursor.rowcount
        finally:
            cursor.close()


@functools.cache
def _lookup_sql() -> tuple[str, tuple[str, ...]]:
    quote = connection.ops.quote_name
    fields = tuple(f.attname for f in Passkey._meta.concrete_fields if f.attname in _LOOKED_UP)
    columns = ", ".join(f"p.{quote(Passkey._meta.get_field(f).column)}" for f in fields)
    handles = WebAuthnUser._meta
    return (
        f"SELECT {columns}, h.{quote(handles.get_field('handle').column)} "  # noqa: S608 (names from the models)
        f"FROM {quote(Passkey._meta.db_table)} p "
        f"LEFT JOIN {quote(handles.db_table)} h "
        f"ON h.{quote(handles.get_field('user').column)} = "
        f"p.{quote(Passkey._meta.get_field('user').column)} "
        f"WHERE p.{quote(Passkey._meta.get_field('credential_id').column)} = %s",
        fields,
    )


def _find(credential_id: bytes) -> tuple[Passkey, bytes | None] | None:
    """The passkey of ``credential_id`` (id, owner, key and counter loaded) and its
    owner's user handle, or None: one indexed query, written out because the ORM's
    query compiler costs several times the query itself on this path."""
    sql, fields = _lookup_sql()
    row, _ = _execute(sql, [credential_id])
    if row is None:
        return None
    passkey = Passkey.from_db(DEFAULT_DB_ALIAS, fields, row[: len(fields)])
    handle = row[len(fields)]
    return passkey, (bytes(handle) if handle is not None else None)


@dataclass(frozen=True)
class Assertion:
    """A verified navigator.credentials.get() answer, its counter not yet stored."""

    passkey: Passkey
    new_sign_count: int


def _check_assertion(
    parsed: AuthenticationCredential,
    *,
    challenge: bytes,
    origins: list[str],
    public_key: bytes,
    current_sign_count: int,
) -> int:
    """The checks of ``webauthn.verify_authentication_response``, in its order, with
    user verification required and the public key from ``_public_key``; the new
    sign counter, or InvalidAuthenticationResponse."""
    if bytes_to_base64url(parsed.raw_id) != parsed.id:
        raise InvalidAuthenticationResponse("id and raw_id were not equivalent")
    response = parsed.response
    client_data_bytes = bytes(response.client_data_json)
    authenticator_data = bytes(response.authenticator_data)
    try:
        client_data = parse_client_data_json(client_data_bytes)
    except Exception as exc:
        raise InvalidAuthenticationResponse("clientDataJSON was malformed") from exc
    if client_data.type != ClientDataType.WEBAUTHN_GET:
        raise InvalidAuthenticationResponse("unexpected client data type")
    if not hmac.compare_digest(client_data.challenge, challenge):
        raise InvalidAuthenticationResponse("not the expected challenge")
    if client_data.origin not in ([origins] if isinstance(origins, str) else origins):
        raise InvalidAuthenticationResponse("unexpected origin")
    if client_data.token_binding and client_data.token_binding.status not in (
        TokenBindingStatus.SUPPORTED,
        TokenBindingStatus.PRESENT,
    ):
        raise InvalidAuthenticationResponse("unexpected token binding status")
    try:
        auth_data = parse_authenticator_data(authenticator_data)
    except Exception as exc:
        raise InvalidAuthenticationResponse("authenticatorData was malformed") from exc
    if auth_data.rp_id_hash != _rp_id_hash(settings.IDENTITY_RP_ID):
        raise InvalidAuthenticationResponse("unexpected RP ID hash")
    if not auth_data.flags.up:
        raise InvalidAuthenticationResponse("user not present")
    if not auth_data.flags.uv:
        raise InvalidAuthenticationResponse("user not verified")
    new_count = auth_data.sign_count
    if (new_count > 0 or current_sign_count > 0) and new_count <= current_sign_count:
        raise InvalidAuthenticationResponse("sign count did not grow")
    try:
        algorithm, key = _public_key(public_key)
        verify_signature(
            public_key=key,
            signature_alg=algorithm,
            signature=bytes(response.signature),
            data=authenticator_data + hashlib.sha256(client_data_bytes).digest(),
        )
    except Exception as exc:
        # InvalidSignature, or a stored key or algorithm that cannot verify.
        raise InvalidAuthenticationResponse("signature not verified") from exc
    return new_count


def verify(
    *, credential: str | dict, challenge: bytes, origins: list[str], user: Any = None
) -> Assertion:
    """Check a navigator.credentials.get() answer without writing anything: the passkey
    it proves and its new sign counter, or PasskeyRefused. ``authenticate`` is
    this followed by ``store_sign_count``.

    With ``user``, the passkey must be theirs. Checked: the credential's id, the
    user handle against the passkey's owner, the client data's type, challenge
    and origin, the relying-party id, user presence and verification, a sign
    counter that grows (when the authenticator keeps one) and the signature.
    """
    data = _parse(credential)
    try:
        parsed = parse_authentication_credential_json(data)
    except (
        InvalidJSONStructure,
        InvalidAuthenticationResponse,
        ValueError,
        KeyError,
        TypeError,
    ) as exc:
        raise not_verified() from exc
    # The owner's user handle comes in the same query: one look-up, one update.
    found = _find(bytes(parsed.raw_id))
    if found is None:
        raise not_verified()
    passkey, stored_handle = found
    if user is not None and passkey.user_id != user.pk:
        raise not_verified()
    handle = parsed.response.user_handle
    if handle is not None and (stored_handle is None or bytes(handle) != stored_handle):
        raise not_verified()
    try:
        new_count = _check_assertion(
            parsed,
            challenge=challenge,
            origins=origins,
            public_key=bytes(passkey.public_key),
            current_sign_count=passkey.sign_count,
        )
    except InvalidAuthenticationResponse as exc:
        raise not_verified() from exc
    return Assertion(passkey=passkey, new_sign_count=new_count)


@functools.cache
def _store_count_sql(counts: bool) -> str:
    """The counter's conditional UPDATE: below the new value when the authenticator
    keeps a counter (``counts``), else still 0."""
    quote = connection.ops.quote_name
    meta = Passkey._meta
    counter = quote(meta.get_field("sign_count").column)
    return (
        f"UPDATE {quote(meta.db_table)} SET {counter} = %s, "  # noqa: S608 (names from the model)
        f"{quote(meta.get_field('last_used_at').column)} = %s "
        f"WHERE {quote(meta.pk.column)} = %s AND "
        + (f"{counter} < %s" if counts else f"{counter} = %s")
    )


def store_sign_count(assertion: Assertion) -> Passkey:
    """Store the verified answer's counter: one UPDATE, refused (PasskeyRefused) unless
    the stored counter is still below it (or both are 0, an authenticator without
    a counter). Atomic without a transaction: of two answers with the same
    counter — a clone, or a replay racing the original — exactly one passes."""
    passkey, count = assertion.passkey, assertion.new_sign_count
    now = timezone.now()
    _, stored = _execute(
        _store_count_sql(count > 0),
        [count, connection.ops.adapt_datetimefield_value(now), passkey.pk, count],
    )
    if stored != 1:
        raise not_verified()
    passkey.sign_count = count
    passkey.last_used_at = now
    return passkey


def authenticate(
    *, credential: str | dict, challenge: bytes, origins: list[str], user: Any = None
) -> Passkey:
    """Check a navigator.credentials.get() answer; the passkey it proves, or PasskeyRefused.

    With ``user``, the passkey must be theirs. A sign counter that does not
    grow (when the authenticator keeps one) means a cloned authenticator or
    a replayed answer, and is refused — checked against the stored counter,
    then again by the UPDATE that stores the new one.
    """
    return store_sign_count(
        verify(credential=credential, challenge=challenge, origins=origins, user=user)
    )


@transaction.atomic
def rename(*, user: Any, passkey: Passkey, name: str, source: str) -> Passkey:
    name = (name or "").strip()[:100]
    if not name:
        raise _refused(
            "passkey_name_required",
            "Vui lòng đặt tên cho khóa truy cập.",
            "Please give the passkey a name.",
        )
    record_about_account(
        actor=user,
        action="factor_renamed",
        user=user,
        changes={"factor": "passkey", "name": [passkey.name, name]},
        source=source,
    )
    passkey.name = name
    passkey.save(update_fields=["name"])
    return passkey


@transaction.atomic
def revoke(*, user: Any, passkey: Passkey, source: str) -> None:
    record_about_account(
        actor=user,
        action="factor_removed",
        user=user,
        changes={"factor": "passkey", "name": passkey.name},
        source=source,
    )
    passkey.delete()
