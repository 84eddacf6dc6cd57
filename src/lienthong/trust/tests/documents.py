"""Documents for validation tests: a small PDF, signed with TEST PKI keys by pyHanko."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper


def plain_pdf(text: str = "TEST document") -> bytes:
    writer = PdfFileWriter()
    content = generic.StreamObject(stream_data=f"BT 72 770 Td ({text}) Tj ET".encode("latin-1"))
    page = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Page"),
            generic.NameObject("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(v) for v in (0, 0, 595, 842)]
            ),
            generic.NameObject("/Contents"): writer.add_object(content),
            generic.NameObject("/Resources"): generic.DictionaryObject({}),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def signer_for(pki, label: str) -> signers.SimpleSigner:
    return signers.SimpleSigner.load_pkcs12(
        str(pki.p12_path(label)), passphrase=pki.p12_passphrase(label)
    )


def signed_pdf(pki, label: str, *, timestamp: bool = True, pdf: bytes | None = None) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf or plain_pdf()))
    out = signers.sign_pdf(
        writer,
        signers.PdfSignatureMetadata(field_name=f"Signature-{label}", subfilter=None),
        signer=signer_for(pki, label),
        timestamper=HTTPTimeStamper(pki.tsa_url) if timestamp else None,
    )
    return out.getvalue()


def changed_after_signing(signed: bytes) -> bytes:
    """Append an incremental update that rewrites the page content (a forbidden change)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page_ref = writer.root["/Pages"]["/Kids"][0]
    new_content = generic.StreamObject(stream_data=b"BT 72 770 Td (FORGED amount 9999) Tj ET")
    page[generic.NameObject("/Contents")] = writer.add_object(new_content)
    writer.update_container(page)
    del page_ref
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
