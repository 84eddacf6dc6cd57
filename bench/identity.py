"""Benchmark: passkey sign-in verifications per second on one core (issue "Identity").

Run:
    LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/identity.py [--rounds N]

A citizen's passkey (P-256, a software authenticator) is registered once in a
fresh SQLite database; then, N times: the server makes options and a challenge,
the authenticator answers, and the server verifies the answer
(``identity.passkeys.authenticate``: parse, find the passkey, check challenge,
origin, RP id, flags, counter and the ECDSA signature, store the new counter).
Only the server's verification is timed. In the same run, as the reference, the
bare ``cryptography`` ECDSA P-256 verification of the same signed data; the
issue's target is an overhead under 3 times that bare operation.

Remote signing (CSC signHash) is not built yet, so its half of the issue's
benchmark is not measured here.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    options = parser.parse_args()
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    import django

    django.setup()
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.conf import settings
    from django.core.management import call_command

    from lienthong.identity import passkeys, services
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

    ours: list[float] = []
    bare: list[float] = []
    public_key = phone.key.public_key()
    for _ in range(options.rounds):
        asked, challenge = passkeys.authentication_options()
        answer = phone.get(json.loads(asked))
        t = time.perf_counter()
        passkeys.authenticate(credential=answer, challenge=challenge, origins=origins)
        ours.append(time.perf_counter() - t)
        # The same signature, verified bare.
        response = answer["response"]
        data = (
            _unb64(response["authenticatorData"])
            + hashlib.sha256(_unb64(response["clientDataJSON"])).digest()
        )
        signature = _unb64(response["signature"])
        t = time.perf_counter()
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        bare.append(time.perf_counter() - t)

    ours_ms, bare_ms = statistics.median(ours) * 1000, statistics.median(bare) * 1000
    print(f"Python {sys.version.split()[0]}; {os.cpu_count()} cores; {options.rounds} sign-ins")
    print(f"bare ECDSA P-256 verify:     p50 {bare_ms:.3f} ms  ({1000 / bare_ms:,.0f}/s)")
    print(f"passkey sign-in (server):    p50 {ours_ms:.3f} ms  ({1000 / ours_ms:,.0f}/s), "
          f"p99 {sorted(ours)[int(len(ours) * 0.99) - 1] * 1000:.3f} ms")  # fmt: skip
    print(f"overhead: {ours_ms / bare_ms:.1f}x the bare operation (target: under 3x)")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


if __name__ == "__main__":
    main()
