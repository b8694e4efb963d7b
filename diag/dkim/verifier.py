"""dkimpy's DKIM and ARC verifiers with RSA checked by OpenSSL and each key record parsed once.

dkimpy verifies an RSA signature with its own pure-Python arithmetic (``RSASSA_PKCS1_v1_5_verify``:
``pow`` on Python integers and byte-at-a-time conversions), ten times the cost of OpenSSL's, and
parses the key record (tag list, base64, its own ASN.1 reader) for every signature it checks.
The seams are ``DomainSigner.verify_sig`` (fetch and parse the key) and
``DomainSigner.verify_sig_process`` (hash, then check), which both ``DKIM.verify`` and
``ARC.verify_instance`` call. Here ``verify_sig`` takes the key from a bounded cache of dkimpy's
own parse (``dkim.evaluate_pk``), and ``verify_sig_process`` repeats dkimpy 1.1.8's steps for
an RSA key with SHA-256 except that ``OpenSslRsaKey`` does the arithmetic. Everything else
stays dkimpy's: Ed25519 (pynacl, libsodium: already native, and stricter than OpenSSL about
small-order keys), RSA-SHA1, and keys OpenSSL would not compute with exactly
(``openssl_public_key``). Same verdicts, same exceptions and same logged reasons as dkimpy's
own path (tests/diag/test_dkim_native.py compares the two); dkimpy's debug-level log lines are
not written. The message's split into fields and body (``set_message``) and the relaxed
canonicalization follow dkimpy's steps too, rewritten without its per-line regex lookups, compared
with its functions by the same tests.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import dkim
from dkim.canonicalization import correct_empty_body, strip_trailing_lines
from dkim.crypto import DigestTooLargeError

from diag.dkim.fetch import to_crlf
from diag.dkim.rsa import OpenSslRsaKey, openssl_public_key
from diag.lines import header_end, split_lines

KEY_CACHE_SIZE = 256  # distinct key records kept parsed (a sink sees a handful of signers)
_RSA = b"rsa"
_WSP = re.compile(rb"\s+")
# dkimpy's RE_BTAG, "[;\s]b" FWS "=" then base64 with FWS between, with FWS written as \s*
_B_VALUE = re.compile(rb"([;\s]b\s*=)(?:[\sa-zA-Z0-9+/=]*[a-zA-Z0-9+/=])?(?:\r?\n\Z)?")
_FIELD_NAME = re.compile(rb"([\x21-\x7e]+?):")  # dkimpy's rfc822_parse field name
_WSP_RUN = re.compile(rb"[\t ]+")  # dkimpy's compress_whitespace
_TRAILING_WSP = re.compile(rb"[\t ]+\r\n")  # dkimpy's strip_trailing_whitespace
_FOLDING_WSP = (0x09, 0x20)


def split_message(message: bytes) -> tuple[list[list[bytes]], bytes]:
    """dkimpy's ``rfc822_parse(message)``: the same fields, body and errors, found faster.

    dkimpy cuts the whole message into lines with a regex, looks each header line's pattern up
    in ``re``'s cache, and joins the body's lines again; for a reset mail that was about 4 % of
    a judgment. Here only the header block is cut into lines, and the body after the first
    empty line is the rest of the message with its line ends made CRLF, which is what that
    join gives. tests/diag/test_dkim_native.py compares the two on generated messages.
    """
    if message.startswith((b"\n", b"\r\n")):  # an empty first line: no fields
        return [], to_crlf(message[message.index(b"\n") + 1 :])
    span = header_end(message)
    head, body = (message, b"") if span is None else (message[: span[0]], message[span[1] :])
    headers: list[list[bytes]] = []
    for line in split_lines(head):
        if not line:  # the last line, empty: the message ends with its header block
            break
        if line[0] in _FOLDING_WSP:
            headers[-1][1] += line + b"\r\n"  # IndexError for a leading continuation, as dkimpy
            continue
        match = _FIELD_NAME.match(line)
        if match is not None:
            headers.append([match.group(1), line[match.end(0) :] + b"\r\n"])
        elif not line.startswith(b"From "):
            raise dkim.MessageFormatError(f"Unexpected characters in RFC822 header: {line!r}")
    return headers, to_crlf(body)


def relaxed_headers(headers: list[Any]) -> list[tuple[bytes, bytes]]:
    """dkimpy's ``Relaxed.canonicalize_headers`` (RFC 6376 §3.4.2), without its regex lookups.

    Unfolding removes every LF and the CR right before it (dkimpy's ``\\r?\\n``), as the two
    ``replace`` calls do.
    """
    return [
        (
            name.lower().rstrip(),
            compress_whitespace(value.replace(b"\r\n", b"").replace(b"\n", b"")).strip() + b"\r\n",
        )
        for name, value in headers
    ]


def relaxed_body(body: bytes) -> bytes:
    """dkimpy's ``Relaxed.canonicalize_body`` (RFC 6376 §3.4.4), each pass run only where it
    would change something (tests/diag/test_dkim_native.py compares the two)."""
    if b" \r\n" in body or b"\t\r\n" in body:  # else there is no trailing WSP to strip
        body = _TRAILING_WSP.sub(b"\r\n", body)
    return correct_empty_body(strip_trailing_lines(compress_whitespace(body)))  # type: ignore[no-any-return]


def compress_whitespace(text: bytes) -> bytes:
    """dkimpy's ``compress_whitespace``: each run of WSP becomes one SP.

    Text without a tab and without two spaces in a row has no run to change, and is most text.
    """
    if b"\t" in text or b"  " in text:
        return _WSP_RUN.sub(b" ", text)
    return text


@dataclass(frozen=True)
class PublicKey:
    """``dkim.evaluate_pk``'s reading of one key record, and the OpenSSL key when there is one."""

    pk: Any
    keysize: Any  # dkimpy's: the modulus's bits, 256 for Ed25519, None when it kept no key
    ktag: bytes | None
    seqtlsrpt: bool
    openssl: OpenSslRsaKey | None


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _parsed_key(record: bytes | str) -> PublicKey:
    """dkimpy's parse of a non-empty key record (pure; errors are raised afresh every time).

    The name passed to ``evaluate_pk`` appears only in its message for an empty record, which
    never reaches this function. dkimpy never changes a parsed key, so sharing one is safe.
    """
    pk, keysize, ktag, seqtlsrpt = dkim.evaluate_pk(b"", record)
    native = None
    if ktag == _RSA and isinstance(pk, dict):
        native = openssl_public_key(pk["modulus"], pk["publicExponent"])
    return PublicKey(pk, keysize, ktag, seqtlsrpt, native)


def load_public_key(name: bytes, record: bytes | str | None) -> PublicKey:
    """dkimpy's ``evaluate_pk(name, record)`` as a ``PublicKey``, parsed once per record text.

    Raises what ``evaluate_pk`` raises (``KeyFormatError`` for an empty or unusable record,
    ``binascii.Error`` for bad base64 padding, and whatever its ASN.1 reader lets through).
    """
    if not record:
        dkim.evaluate_pk(name, record)  # raises dkimpy's "missing public key"
    assert record  # evaluate_pk never returns for an empty record
    return _parsed_key(record)


class NativeVerifier(dkim.DomainSigner):  # type: ignore[misc]  # dkimpy ships no type information
    """The verification steps of ``dkim.DomainSigner`` with the key cache and OpenSSL's RSA.

    Mixed in before ``dkim.DKIM`` or ``dkim.ARC`` (``NativeDKIM``, ``NativeARC``).
    """

    _openssl: OpenSslRsaKey | None = None

    def set_message(self, message: bytes | None) -> None:
        """dkimpy's ``set_message``, the message split by ``split_message``."""
        super().set_message(None)  # the state of a new message, with no fields and no body
        if message:
            self.headers, self.body = split_message(message)

    def verify_sig(
        self, sig: dict[bytes, bytes], include_headers: list[bytes], sig_header: Any, dnsfunc: Any
    ) -> bool:
        """dkimpy's ``verify_sig``: the key through ``load_public_key``, same errors logged."""
        name = sig[b"s"] + b"._domainkey." + sig[b"d"] + b"."
        try:
            key = load_public_key(name, dnsfunc(name, timeout=self.timeout))
        except dkim.KeyFormatError as e:
            self.logger.error("%s" % e)  # noqa: UP031 - dkimpy's exact message
            return False
        except binascii.Error as e:
            self.logger.error(f"KeyFormatError: {e}")
            return False
        except dkim.DnsTimeoutError as e:
            domain, selector = str(sig[b"d"]), str(sig[b"s"])  # b'...' as dkimpy writes them
            self.logger.error(
                f"DnsTimeoutError: Domain: {domain} Selector: {selector} Error message: {e}"
            )
            return False
        self.pk, self.keysize, self.ktag, self.seqtlsrpt = (
            key.pk,
            key.keysize,
            key.ktag,
            key.seqtlsrpt,
        )
        self._openssl = key.openssl
        return self.verify_sig_process(sig, include_headers, sig_header, dnsfunc)

    def verify_sig_process(
        self, sig: dict[bytes, bytes], include_headers: list[bytes], sig_header: Any, dnsfunc: Any
    ) -> bool:
        """dkimpy 1.1.8's ``verify_sig_process`` with OpenSSL's RSA, for the keys it fits."""
        hasher = dkim.HASH_ALGORITHMS.get(sig[b"a"])
        if self._openssl is None or self.ktag != _RSA or hasher is not hashlib.sha256:
            return super().verify_sig_process(sig, include_headers, sig_header, dnsfunc)  # type: ignore[no-any-return]
        # From here to the check, dkimpy's own steps and messages, in its order.
        if self.tlsrpt == "strict" and not self.seqtlsrpt:
            raise dkim.ValidationError("Message is tlsrpt and Service Type is not tlsrpt")
        if not self.tlsrpt and self.seqtlsrpt:
            raise dkim.ValidationError("Message is not tlsrpt and Service Type is tlsrpt")
        try:
            policy = dkim.CanonicalizationPolicy.from_c_value(sig.get(b"c", b"simple/simple"))
        except dkim.InvalidCanonicalizationPolicyError as e:
            raise dkim.MessageFormatError("invalid c= value: %s" % e.args[0]) from e  # noqa: UP031
        if b"bh" in sig:
            self._check_body_hash(sig, policy, hasher)
        if b"from" in include_headers:
            include_headers.append(b"from")  # dkimpy's defence against a second From field
        h = dkim.HashThrough(hasher(), self.debug_content)
        self.signed_headers = self._hash_headers(h, policy, include_headers, sig_header)
        signature = base64.b64decode(_WSP.sub(b"", sig[b"b"]))
        try:
            valid = self._openssl.verify_sha256(h.digest(), signature)
            if valid and self.keysize < self.minkey:
                raise dkim.KeyFormatError("public key too small: %d" % self.keysize)  # noqa: UP031
            return valid
        except (TypeError, DigestTooLargeError) as e:
            raise dkim.KeyFormatError("digest too large for modulus: %s" % e) from e  # noqa: UP031

    def _hash_headers(
        self, hasher: Any, policy: Any, include_headers: list[bytes], sig_header: Any
    ) -> list[tuple[bytes, bytes]]:
        """dkimpy's ``hash_headers(hasher, policy, policy.canonicalize_headers(self.headers),
        include_headers, sig_header, sig)``: the same bytes hashed, the same fields returned.

        Two steps are cheaper. Only the fields h= selects are canonicalized: canonicalization
        maps each field on its own, and dkimpy selects by canonical name (lower-cased, and for
        relaxed also stripped on the right), which is computed here without the value. And the
        b= value is cut by ``_B_VALUE``, which matches what dkimpy's ``RE_BTAG`` matches (its
        FWS pattern matches any run of whitespace) without ``RE_BTAG``'s backtracking.
        """
        relaxed = policy.header_algorithm is dkim.RelaxedCanonicalization
        named = [
            (name.lower().rstrip() if relaxed else name, index)
            for index, (name, _) in enumerate(self.headers)
        ]
        chosen = [self.headers[index] for _, index in dkim.select_headers(named, include_headers)]
        canonicalize = relaxed_headers if relaxed else policy.canonicalize_headers
        signed: list[tuple[bytes, bytes]] = canonicalize(chosen)
        without_b = _B_VALUE.sub(rb"\1", sig_header[1])
        ((name, value),) = canonicalize([(sig_header[0], without_b)])
        for field_name, field_value in [*signed, (name, value.rstrip())]:
            hasher.update(field_name)
            hasher.update(b":")
            hasher.update(field_value)
        return signed

    def _check_body_hash(self, sig: dict[bytes, bytes], policy: Any, hasher: Any) -> None:
        if policy.body_algorithm is dkim.RelaxedCanonicalization:
            body = relaxed_body(self.body)
        else:
            body = policy.canonicalize_body(self.body)
        if b"l" in sig and not self.tlsrpt:
            body = body[: int(sig[b"l"])]
        h = dkim.HashThrough(hasher(), self.debug_content)
        h.update(body)
        bodyhash = h.digest()
        try:
            bh = base64.b64decode(_WSP.sub(b"", sig[b"bh"]))
        except TypeError as e:
            raise dkim.MessageFormatError(str(e)) from e
        if bodyhash != bh:
            raise dkim.ValidationError(
                "body hash mismatch (got %s, expected %s)"  # noqa: UP031 - b'...' as in dkimpy
                % (str(base64.b64encode(bodyhash)), str(sig[b"bh"]))
            )


class NativeDKIM(NativeVerifier, dkim.DKIM):  # type: ignore[misc]
    """``dkim.DKIM`` verifying through ``NativeVerifier``."""


class NativeARC(NativeVerifier, dkim.ARC):  # type: ignore[misc]
    """``dkim.ARC`` verifying through ``NativeVerifier``."""
