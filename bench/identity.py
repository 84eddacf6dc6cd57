"""Benchmark: passkey sign-in verifications per second on one core (issue "Identity").

Run:
    LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/identity.py [--rounds N]
        [--signing-rounds N] [--batch N]

A citizen's passkey (P-256, a software authenticator) is registered once in a
fresh SQLite database; then, N times: the server makes options and a challenge,
the authenticator answers, and the server checks the answer. Timed separately:
(a) the verification (``identity.passkeys.verify``: parse, find the passkey,
check challenge, origin, RP id, flags, counter and the ECDSA signature — all but
the database write) and (b) the whole sign-in (``identity.passkeys.authenticate``:
the same, then the UPDATE that stores the new counter). In the same run, as the
reference, the bare ``cryptography`` ECDSA P-256 verification of the same signed
data; the issue's target is an overhead under 3 times that bare operation. Wall
and CPU time (of this thread) are both reported: the write waits for the disk.

Remote signing (``--signing-rounds N``, the other half): a citizen's P-256
credential certified by a TEST CA (a TEST PKI built in a temporary folder).
One real ``credentials/authorize`` with a TOTP code is timed once; then, with
SADs issued by ``services.issue_authorization`` (the second factor is the
identity half's subject, and a TOTP step is accepted only once), the service
layer's ``sign_hashes`` (SAD lookup and spend, key unsealing, ECDSA, audit
record) is timed two ways: one signHash of ``--batch`` hashes (per hash), and
one signHash per hash (per signature). The bare ``cryptography`` ECDSA P-256
sign of a prehashed SHA-256 digest is the reference, in the same run.

The node runs with DEBUG off, as in production (``--debug`` turns it on: Django
then records every SQL statement, which costs about a tenth of a sign-in).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--signing-rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--debug", action="store_true", help="run with DEBUG on")
    options = parser.parse_args()
    os.environ.pop("DATABASE_URL", None)
    os.environ["LIENTHONG_DEBUG"] = "1" if options.debug else "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    import django

    django.setup()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.conf import settings
    from django.core.management import call_command
    from webauthn import verify_authentication_response

    from lienthong.identity import passkeys, services
    from lienthong.identity.models import Passkey
    from lienthong.identity.tests.authenticator import SoftAuthenticator

    call_command("migrate", verbosity=0)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.IDENTITY_RP_ID = "localhost"
    origins = ["http://localhost:8000"]
    user = services.create_account(
        actor="bench", kind="citizen", display_name="Bench", personal_id="001190099999",
        password=None, source="bench",
    ).user  # fmt: skip
    phone = SoftAuthenticator()
    created, challenge = passkeys.registration_options(user=user)
    passkeys.register(user=user, credential=phone.create(json.loads(created)), challenge=challenge,
                      origins=origins, name="bench phone", source="bench")  # fmt: skip

    # Three timings per round, in the same run: the bare ECDSA verification of the
    # answer's signed bytes; the server's verification without its write
    # (``passkeys.verify``: parse, look up, every check, the signature); the whole
    # sign-in (``passkeys.authenticate``: the same, then the counter's UPDATE).
    # For comparison, py_webauthn's own verify_authentication_response of an answer
    # (no database: the stored key and counter are given to it).
    bare: list[Timing] = []
    verify: list[Timing] = []
    whole: list[Timing] = []
    package: list[Timing] = []
    owner: list[Timing] = []
    with_user: list[Timing] = []
    public_key = phone.key.public_key()
    stored_key = bytes(Passkey.objects.get(user=user).public_key)
    for _ in range(options.rounds):
        asked, challenge = passkeys.authentication_options()
        answer = phone.get(json.loads(asked))
        with timed(verify):
            passkeys.verify(credential=answer, challenge=challenge, origins=origins)
        with timed(package):
            verify_authentication_response(
                credential=answer, expected_challenge=challenge, expected_rp_id="localhost",
                expected_origin=origins, credential_public_key=stored_key,
                credential_current_sign_count=0, require_user_verification=True,
            )  # fmt: skip
        asked, challenge = passkeys.authentication_options()
        answer = phone.get(json.loads(asked))
        with timed(whole):
            passkey = passkeys.authenticate(credential=answer, challenge=challenge, origins=origins)
        # What the sign-in view does next: load the user to log them in (not loaded by
        # the verification since it reads the passkey without the ORM's compiler).
        with timed(owner):
            passkey.user  # noqa: B018
        with_user.append((whole[-1][0] + owner[-1][0], whole[-1][1] + owner[-1][1]))
        # The same signature, verified bare.
        response = answer["response"]
        data = (
            _unb64(response["authenticatorData"])
            + hashlib.sha256(_unb64(response["clientDataJSON"])).digest()
        )
        signature = _unb64(response["signature"])
        with timed(bare):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))

    print(f"Python {sys.version.split()[0]}; {os.cpu_count()} cores; {options.rounds} sign-ins; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("                                   wall p50    CPU p50    per second (wall)  ratio")
    bare_wall, bare_cpu = _p50(bare)
    for name, rows in (
        ("bare ECDSA P-256 verify", bare),
        ("(a) passkey verification", verify),
        ("(b) sign-in with counter write", whole),
        ("(b) + loading the user to log in", with_user),
        ("py_webauthn verify, no database", package),
    ):
        wall, cpu = _p50(rows)
        print(f"{name:<34} {wall:7.3f} ms {cpu:7.3f} ms {1000 / wall:12,.0f}/s"
              f"   {wall / bare_wall:5.1f}x wall, {cpu / bare_cpu:5.1f}x CPU")  # fmt: skip
    print("target: under 3x the bare operation")
    if options.signing_rounds:
        _remote_signing(options, user)


def _remote_signing(options, user) -> None:
    """The CSC signHash half (see the module's docstring)."""
    import tempfile
    from pathlib import Path

    import pyotp
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
    from django.conf import settings

    from lienthong.identity import factors
    from lienthong.signing import keys
    from lienthong.signing import services as signing
    from lienthong.trust import testpki

    folder = Path(tempfile.mkdtemp(prefix="bench-pki-"))
    pki = testpki.build_test_pki(directory=folder / "pki", base_url="http://127.0.0.1:9")
    credential = signing.create_credential(actor="bench", user=user, source="bench")
    credential = signing.issue_test_certificate(actor="bench", credential=credential, pki=pki,
                                                source="bench")  # fmt: skip
    secret, _codes = factors.issue_totp(actor="bench", user=user, source="bench")
    cid = credential.credential_id
    settings.SIGNING_MAX_BATCH = max(settings.SIGNING_MAX_BATCH, options.batch)

    def digests(count: int) -> list[bytes]:
        return [hashlib.sha256(os.urandom(16)).digest() for _ in range(count)]

    t = time.perf_counter()
    signing.authorize(user=user, credential_id=cid, digests=digests(1),
                      otp=pyotp.TOTP(secret).now(), source="bench")  # fmt: skip
    authorize_ms = (time.perf_counter() - t) * 1000

    def sad_for(batch: list[bytes]) -> str:
        return signing.issue_authorization(user=user, credential=credential, digests=batch,
                                           method="totp", source="bench").sad  # fmt: skip

    per_hash: list[float] = []
    batches = max(1, options.signing_rounds // options.batch)
    for _ in range(batches):
        batch = digests(options.batch)
        sad = sad_for(batch)
        t = time.perf_counter()
        signing.sign_hashes(user=user, credential_id=cid, sad=sad, digests=batch, source="bench")
        per_hash.append((time.perf_counter() - t) / len(batch))
    per_signature: list[float] = []
    bare: list[float] = []
    private_key = keys.load_private_key(credential)
    algorithm = ec.ECDSA(Prehashed(hashes.SHA256()))
    for _ in range(options.signing_rounds):
        one = digests(1)
        sad = sad_for(one)
        t = time.perf_counter()
        signing.sign_hashes(user=user, credential_id=cid, sad=sad, digests=one, source="bench")
        per_signature.append(time.perf_counter() - t)
        t = time.perf_counter()
        private_key.sign(one[0], algorithm)
        bare.append(time.perf_counter() - t)

    bare_ms = statistics.median(bare) * 1000
    batch_ms = statistics.median(per_hash) * 1000
    single_ms = statistics.median(per_signature) * 1000
    print()
    print(f"Remote signing: {options.signing_rounds} signatures, batches of {options.batch}")
    print(f"credentials/authorize (TOTP, once): {authorize_ms:.3f} ms")
    print(f"bare ECDSA P-256 sign (prehashed):  p50 {bare_ms:.3f} ms  ({1000 / bare_ms:,.0f}/s)")
    print(f"signHash, batch of {options.batch} (per hash):  p50 {batch_ms:.3f} ms  "
          f"({1000 / batch_ms:,.0f}/s), {batch_ms / bare_ms:.1f}x the bare sign (target: under 3x)")  # fmt: skip
    print(f"signHash, one hash per call:        p50 {single_ms:.3f} ms  "
          f"({1000 / single_ms:,.0f}/s), {single_ms / bare_ms:.1f}x the bare sign "
          "(SAD check and spend, key unsealing, audit record: database writes)")  # fmt: skip


Timing = tuple[float, float]  # (wall, CPU) seconds


@contextlib.contextmanager
def timed(into: list[Timing]):
    wall, cpu = time.perf_counter(), time.thread_time()
    yield
    into.append((time.perf_counter() - wall, time.thread_time() - cpu))


def _p50(rows: list[Timing]) -> tuple[float, float]:
    """Median wall and CPU time, in milliseconds."""
    return (
        statistics.median(r[0] for r in rows) * 1000,
        statistics.median(r[1] for r in rows) * 1000,
    )


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


if __name__ == "__main__":
    main()
