"""Report samples for the feedback tests: the hand-written files in tests/data/feedback, and
builders for the containers (gzip, zip, mail, mbox) they travel in."""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "feedback"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zipped(*members: tuple[str, bytes], encrypted: bool = False) -> bytes:
    """A zip archive of ``members``; ``encrypted`` marks them so (APPNOTE 4.4.4, bit 0) in
    the local and central headers, which zipfile itself cannot write."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, (2025, 12, 6, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    data = bytearray(buffer.getvalue())
    if encrypted:
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(signature)
            data[at + offset] |= 0x1
    return bytes(data)


def mail(*attachments: tuple[str, str, bytes], sender: str = "reports@receiver.example") -> bytes:
    """A report mail: a text part, then each (media type, file name, bytes) as base64."""
    parts = [
        f"From: {sender}\r\nTo: rua@visma.example\r\nSubject: Report Domain: visma.com\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
    ]
    for media_type, name, data in attachments:
        encoded = base64.encodebytes(data).decode().replace("\n", "\r\n")
        parts.append(
            f"--b\r\nContent-Type: {media_type}\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
        )
    parts.append("--b--\r\n")
    return "".join(parts).encode()


def mbox(*messages: bytes) -> bytes:
    return b"".join(
        b"From reports@receiver.example Sat Dec  6 00:00:00 2025\n" + m.replace(b"\r\n", b"\n")
        for m in messages
    )


def aggregate_xml(
    *,
    org: str = "receiver.example",
    report_id: str = "r-1",
    begin: str = "1764892800",
    end: str = "1764979199",
    records: str | None = None,
    namespace: str = "",
    metadata_extra: str = "",
    policy: str = "<domain>platform.visma.com</domain><p>reject</p>",
) -> bytes:
    """A small aggregate report; each piece can be replaced to break it on purpose."""
    if records is None:
        records = record_xml()
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    return (
        f"<feedback{xmlns}><report_metadata><org_name>{org}</org_name>"
        f"<email>dmarc@receiver.example</email><report_id>{report_id}</report_id>"
        f"<date_range><begin>{begin}</begin><end>{end}</end></date_range>{metadata_extra}"
        f"</report_metadata><policy_published>{policy}</policy_published>{records}</feedback>"
    ).encode()


def record_xml(
    *,
    ip: str = "198.51.100.10",
    count: str = "5",
    disposition: str = "none",
    dkim: str = "pass",
    spf: str = "pass",
    header_from: str = "platform.visma.com",
    envelope_to: str | None = None,
) -> str:
    to = f"<envelope_to>{envelope_to}</envelope_to>" if envelope_to else ""
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>"
        f"<disposition>{disposition}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf>"
        f"</policy_evaluated></row><identifiers>{to}<header_from>{header_from}</header_from>"
        f"</identifiers><auth_results><dkim><domain>{header_from}</domain>"
        f"<selector>s1</selector><result>{dkim}</result></dkim><spf><domain>{header_from}"
        f"</domain><result>{spf}</result></spf></auth_results></record>"
    )
