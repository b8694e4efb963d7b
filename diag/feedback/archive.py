"""Opening the containers reports come in (gzip, zip) without letting them cost more than the
limits allow: every stream is inflated only up to the bytes still allowed, so a bomb is
refused after at most the limit plus one byte, whatever it claims or holds. Pure; no files.
"""

from __future__ import annotations

import io
import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator

from diag.errors import ReportRefused
from diag.feedback.limits import Limits
from diag.feedback.values import safe_text

GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952 §2.3.1
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's switch for a gzip header and trailer
# What zipfile raises for archives it cannot read: bad structures (BadZipFile, struct.error,
# EOFError), bad names (UnicodeDecodeError is a ValueError), broken streams (zlib.error,
# LZMAError, OSError from bz2), unknown methods (NotImplementedError) and encrypted data
# without a password (RuntimeError).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    struct.error,
    EOFError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    OSError,
    NotImplementedError,
    RuntimeError,
)


def is_archive(data: bytes) -> bool:
    return data.startswith(GZIP_MAGIC) or data.startswith(ZIP_MAGICS)


class Budget:
    """The decompressed bytes one file may still produce, in all and per report."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.remaining = limits.max_total_bytes

    def allowed(self) -> int:
        return min(self.limits.max_report_bytes, self.remaining)

    def exceeded(self) -> ReportRefused:
        return ReportRefused(
            reason="decompression_bomb", detail=f"inflates past {self.allowed()} bytes"
        )

    def spend(self, size: int) -> None:
        if size > self.allowed():
            raise self.exceeded()
        self.remaining -= size


def gunzip(data: bytes, budget: Budget) -> bytes:
    """The bytes of a gzip file (all its members, RFC 1952 §2.2).

    Raises ReportRefused: ``decompression_bomb`` past the budget, ``archive_corrupt`` for a
    broken or truncated stream.
    """
    parts: list[bytes] = []
    size = 0
    rest = data
    while rest:
        allowed = budget.allowed() - size
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            chunk = inflater.decompress(rest, allowed + 1)
        except zlib.error as error:
            raise ReportRefused(reason="archive_corrupt", detail=f"gzip: {error}") from None
        size += len(chunk)
        if len(chunk) > allowed:
            raise budget.exceeded()
        if not inflater.eof:
            raise ReportRefused(reason="archive_corrupt", detail="gzip: the stream is truncated")
        parts.append(chunk)
        rest = inflater.unused_data
        if not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00"):
                raise ReportRefused(reason="archive_corrupt", detail="gzip: bytes after the end")
            break
    budget.spend(size)
    return b"".join(parts)


def _open(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as error:
        raise ReportRefused(reason="archive_corrupt", detail=f"zip: {error}"[:200]) from None


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: Budget) -> bytes:
    if info.flag_bits & 0x1:  # APPNOTE 4.4.4: bit 0, the member is encrypted
        raise ReportRefused(reason="archive_encrypted")
    allowed = budget.allowed()
    if info.file_size > allowed:  # the archive says so itself
        raise budget.exceeded()
    try:
        with archive.open(info) as member:
            content = member.read(allowed + 1)
    except _ZIP_ERRORS as error:
        raise ReportRefused(reason="archive_corrupt", detail=f"zip: {error}"[:200]) from None
    budget.spend(len(content))
    return content


def unzip(data: bytes, budget: Budget) -> Iterator[tuple[str, bytes | ReportRefused]]:
    """Each file member of a zip archive: its name and its bytes, or why that member alone
    is refused (``archive_encrypted``, ``archive_corrupt``).

    Raises ReportRefused for the archive as a whole: ``archive_corrupt`` when it cannot be
    opened, ``too_many_members``, ``no_report`` when it has no file, ``decompression_bomb``.
    """
    archive = _open(data)
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > budget.limits.max_members:
        raise ReportRefused(
            reason="too_many_members", detail=f"more than {budget.limits.max_members}"
        )
    if not members:
        raise ReportRefused(reason="no_report", detail="the zip archive has no file")
    for info in members:
        name = safe_text(info.filename)[:120]
        try:
            yield name, _member(archive, info, budget)
        except ReportRefused as error:
            if error.reason == "decompression_bomb":
                raise
            yield name, error
