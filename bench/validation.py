"""Benchmark: signature validation and signing with the TEST PKI.

Run: LIENTHONG_DATA_DIR=$(mktemp -d) .venv/bin/python bench/validation.py

Builds a TEST PKI in the data folder, serves its OCSP/CRL/TSA on a loopback
port, and prints per-document times. The ratio that matters across changes is
the sandbox overhead: a validation through the bounded child process against
the same validation run in this process, measured in the same run.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import threading
import time

ROUNDS = 10


def serve(directory, listener) -> None:
    from werkzeug.serving import make_server

    from lienthong.trust import testpki

    server = make_server(
        "127.0.0.1", 0, testpki.wsgi_app(directory), threaded=True, fd=listener.fileno()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()


def median_ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:8.1f} ms  (min {min(samples) * 1000:.1f})"


def timed(fn, rounds=ROUNDS) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    # Django is set up here, not at import: the validation sandbox's children
    # import the main module again, and must not pay for a Django start-up.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lienthong.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from lienthong.trust import testpki
    from lienthong.trust.tests import documents
    from lienthong.trust.validation import engine
    from lienthong.trust.validation.service import (
        default_policy,
        trust_material,
        validate_document,
    )

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

    signed_bt = timed(lambda: documents.signed_pdf(pki, "citizen"), rounds=5)
    print(f"sign PDF, PAdES B-T (pyHanko + TSA on loopback)  {median_ms(signed_bt)}")
    pdf = documents.signed_pdf(pki, "citizen")

    job = {
        "data": pdf,
        "detached": None,
        "filename": "bench.pdf",
        "policy": default_policy().as_dict(),
        **trust_material(),
    }
    in_process = timed(lambda: engine.run(job))
    sandboxed = timed(lambda: validate_document(data=pdf, filename="bench.pdf"))
    report = validate_document(data=pdf, filename="bench.pdf")
    assert report.indication == "TOTAL-PASSED", report.indication
    print(f"validate PDF in this process (OCSP fetched)       {median_ms(in_process)}")
    print(f"validate PDF through the sandbox (+ cache, DB)    {median_ms(sandboxed)}")
    ratio = statistics.median(sandboxed) / statistics.median(in_process)
    print(f"sandbox / in-process ratio: {ratio:.2f}x")


if __name__ == "__main__":
    main()
