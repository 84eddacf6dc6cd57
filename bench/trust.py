"""Benchmark: signature validation throughput with the TEST PKI (issue "Trust").

Run: LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/trust.py

Builds a TEST PKI in the data folder, serves its OCSP/CRL/TSA on a loopback
port, signs a one-page PDF at PAdES B-LT with a key held by the node, then
measures, in the same run:

- bare pyHanko: ``validate_pdf_signature`` of that file with a validation
  context trusting the TEST roots (what pyHanko alone costs), fetching OCSP,
  then with the cached answers given, then again with the worker's faster
  readers (validation/speedups.py) installed in this process;
- ours: ``validate_document`` — the bounded worker process, the trust list and
  the revocation cache read from the database, the report built — with a warm
  revocation cache;
- JWS envelopes: ``verify_jws`` on a warm chain cache (the exchange's path).

It prints p50/p95 and validations per second; the overhead figure is ours
against bare pyHanko. Everything runs one document at a time (one core busy).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import threading
import time

PDF_ROUNDS = 100
JWS_ROUNDS = 3000


def serve(directory, listener) -> None:
    from werkzeug.serving import make_server

    from lienthong.trust import testpki

    server = make_server(
        "127.0.0.1", 0, testpki.wsgi_app(directory), threaded=True, fd=listener.fileno()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()


def timed(fn, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def line(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"{label:<52} p50 {p50 * 1000:8.2f} ms  p95 {p95 * 1000:8.2f} ms  {1 / p50:8.0f}/s"


def main() -> None:
    # Django is set up here, not at import: the validation workers import the
    # main module again, and must not pay for a Django start-up.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from lienthong.trust import keystore, revocation, selectors, signing, testpki
    from lienthong.trust.tests import documents
    from lienthong.trust.validation.service import validate_document

    call_command("migrate", verbosity=0)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    start = time.perf_counter()
    pki = testpki.build_test_pki(
        directory=settings.DATA_DIR / "bench-pki", base_url=base_url, force=True
    )
    print(f"TEST PKI built in {time.perf_counter() - start:.2f} s; Python {sys.version.split()[0]}")
    serve(pki.directory, listener)
    testpki.add_to_trust_list(pki, actor="bench")
    key = keystore.import_pkcs12(
        actor="bench",
        data=pki.p12_path("agency").read_bytes(),
        passphrase=pki.p12_passphrase("agency"),
        name="bench agency key",
    )
    signed = timed(
        lambda: signing.sign_pdf(
            actor="bench",
            key=key,
            pdf=documents.plain_pdf(),
            level="B-LT",
            timestamp_url=pki.tsa_url,
        ),
        rounds=5,
    )
    print(line("sign PDF, PAdES B-LT (TSA, OCSP on loopback)", signed))
    pdf = signing.sign_pdf(
        actor="bench", key=key, pdf=documents.plain_pdf(), level="B-LT", timestamp_url=pki.tsa_url
    )

    anchors, others = list(selectors.anchors()), list(selectors.other_certificates())

    def bare(*, fetching: bool = True) -> None:
        import io

        reader = PdfFileReader(io.BytesIO(pdf))
        known = revocation.known_answers()
        context = ValidationContext(
            trust_roots=anchors,
            other_certs=others,
            allow_fetching=fetching,
            revocation_mode="soft-fail" if fetching else "require",
            ocsps=known["known_ocsp"],
            crls=known["known_crl"],
        )
        status = validate_pdf_signature(
            reader.embedded_signatures[0],
            signer_validation_context=context,
            ts_validation_context=context,
        )
        assert status.bottom_line

    def ours() -> None:
        report = validate_document(data=pdf, filename="bench.pdf")
        assert report.indication == "TOTAL-PASSED", (report.indication, report.sub_indication)

    ours()  # warm: worker started, revocation cache filled
    bare_samples = timed(bare, PDF_ROUNDS)
    bare_offline = timed(lambda: bare(fetching=False), PDF_ROUNDS)
    # The worker's two faster readers (validation/speedups.py), installed here
    # too, so the last comparison is with pyHanko doing the same parsing work.
    # Ours and that bare run alternate, round by round, so that the machine's
    # drift weighs on both alike.
    from lienthong.trust.validation import speedups

    speedups.install()
    bare_fast, our_samples = [], []
    for _ in range(PDF_ROUNDS):
        bare_fast += timed(lambda: bare(fetching=False), 1)
        our_samples += timed(ours, 1)
    print(line("PDF B-LT, bare pyHanko (fetches OCSP)", bare_samples))
    print(line("PDF B-LT, bare pyHanko (cached answers given)", bare_offline))
    print(line("PDF B-LT, bare pyHanko + speedups (cached answers)", bare_fast))
    print(line("PDF B-LT, validate_document (sandboxed)", our_samples))
    for label, reference in (
        ("fetching", bare_samples),
        ("cached answers", bare_offline),
        ("cached answers, same speedups", bare_fast),
    ):
        overhead = statistics.median(our_samples) / statistics.median(reference) - 1
        print(f"overhead over bare pyHanko ({label}, p50): {overhead * 100:+.1f}%")

    try:
        from lienthong.trust.validation.jws import verify_jws
    except ImportError:
        print("JWS: lienthong.trust.validation.jws not available")
        return
    token = signing.sign_jws(
        actor="bench",
        key=key,
        payload={"id": "0193a7b2-0000-7000-8000-000000000000", "type": "dossier.status"},
    )
    first = verify_jws(token)
    assert first.indication == "TOTAL-PASSED", (first.indication, first.sub_indication)
    jws_samples = timed(lambda: verify_jws(token), JWS_ROUNDS)
    print(line("JWS envelope, verify_jws (warm chain cache)", jws_samples))


if __name__ == "__main__":
    main()
