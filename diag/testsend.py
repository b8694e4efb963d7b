"""The test send's pure parts: the content checks a receiver's filter applies to a message, and
the reading of a receiving sink's verdict into a ``TestSendResult``.

No I/O: composing, signing and sending the message, and fetching the stored verdict, belong to
the composition root. Findings carry stable ``testsend.*`` codes.
"""

from __future__ import annotations

import email.policy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from urllib.parse import urlsplit

from diag.errors import MimeStructureError
from diag.findings import ERROR, INFO, OK, WARNING, Finding, Severity, has_errors
from diag.jsonvalue import JsonObject
from diag.mime import parse_message

# Public URL shorteners that filters score as a phishing signal in transactional mail; a reset
# link must point at our own host. A small documented list, not a complete one.
URL_SHORTENERS = frozenset(
    {
        "bit.ly",
        "tinyurl.com",
        "t.co",
        "goo.gl",
        "ow.ly",
        "is.gd",
        "buff.ly",
        "rebrand.ly",
        "cutt.ly",
        "shorturl.at",
        "tiny.cc",
        "rb.gy",
    }
)
# Gmail clips a message whose HTML exceeds about 102 KB; far beyond any reset mail.
CLIP_SIZE = 102 * 1024
FOLDERS = ("inbox", "junk", "rejected", "unknown")
_TEXT_URL = re.compile(r"https?://[^\s<>\"')\]]+", re.IGNORECASE)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and value.strip().lower().startswith("http"):
                self.links.append(value.strip())


def _finding(
    code: str, severity: Severity, summary: str, rfc: str = "", **evidence: object
) -> Finding:
    return Finding(code, severity, summary, evidence, rfc=rfc)


def _parts(message: EmailMessage) -> tuple[str | None, str | None]:
    text = html = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        try:
            body = part.get_content()
        except (LookupError, ValueError):
            continue
        if not isinstance(body, str):
            continue
        if kind == "text/plain" and text is None:
            text = body
        elif kind == "text/html" and html is None:
            html = body
    return text, html


def extract_links(text: str | None, html: str | None) -> tuple[str, ...]:
    """Every http(s) link in the text part and the HTML part (href/src), first seen first."""
    links = list(_TEXT_URL.findall(text or ""))
    if html:
        parser = _Links()
        parser.feed(html)
        parser.close()
        links += parser.links
    return tuple(dict.fromkeys(link.rstrip(".,;") for link in links))


def check_content(raw: bytes, *, base_url: str, require_https: bool = True) -> tuple[Finding, ...]:
    """The content checks a receiver's filter applies to ``raw``. Pure; never raises.

    Links must point at ``base_url``'s host (and path). With ``require_https`` an http link is
    an error; without it (the lab serves http on loopback) it is a warning.
    """
    try:
        message = parse_message(raw, policy=email.policy.default)
    except MimeStructureError as exc:
        summary = "the MIME structure is refused"
        return (_finding("testsend.mime_refused", ERROR, summary, reason=exc.reason),)
    assert isinstance(message, EmailMessage)
    found: list[Finding] = []
    for name, rfc in (("Message-ID", "RFC 5322 §3.6.4"), ("Date", "RFC 5322 §3.6")):
        if message.get(name) is None:
            found.append(
                _finding(
                    f"testsend.no_{name.lower().replace('-', '_')}",
                    ERROR,
                    f"the message has no {name} field",
                    rfc,
                    field=name,
                )
            )
    text, html = _parts(message)
    if text is None or html is None:
        missing = [k for k, v in (("text/plain", text), ("text/html", html)) if v is None]
        found.append(
            _finding(
                "testsend.missing_part",
                WARNING,
                "the message lacks a text or an HTML part",
                missing=missing,
            )
        )
    found += _link_findings(extract_links(text, html), base_url, require_https)
    if len(raw) > CLIP_SIZE:
        found.append(
            _finding(
                "testsend.large", WARNING, "the message is large", size=len(raw), limit=CLIP_SIZE
            )
        )
    if not found:
        found.append(
            _finding("testsend.content_ok", OK, "the content passes the checks", size=len(raw))
        )
    return tuple(found)


def _link_findings(links: Sequence[str], base_url: str, require_https: bool) -> list[Finding]:
    base = urlsplit(base_url)
    base_path = base.path.rstrip("/")
    found: list[Finding] = []
    if not links:
        found.append(_finding("testsend.no_link", ERROR, "the message holds no link"))
    for link in links:
        parts = urlsplit(link)
        host = (parts.hostname or "").lower()
        if host in URL_SHORTENERS:
            found.append(
                _finding(
                    "testsend.url_shortener",
                    ERROR,
                    "a link goes through a URL shortener",
                    link=link,
                    host=host,
                )
            )
        elif parts.netloc.lower() != base.netloc.lower() or not parts.path.startswith(base_path):
            found.append(
                _finding(
                    "testsend.link_foreign",
                    ERROR,
                    "a link points outside the configured base URL",
                    link=link,
                    base_url=base_url,
                )
            )
        if parts.scheme.lower() != "https":
            severity = ERROR if require_https else WARNING
            found.append(
                _finding(
                    "testsend.link_not_https",
                    severity,
                    "a link is not https",
                    link=link,
                    required=require_https,
                )
            )
    return found


@dataclass(frozen=True)
class TestSendResult:
    """How one identity's test mail fared at the receiving sink."""

    __test__ = False  # not a pytest test class

    identity: str
    to: str
    spf: str
    dkim: str
    dmarc: str
    dmarc_policy: str
    aligned: bool
    folder: str
    content: tuple[Finding, ...] = ()
    findings: tuple[Finding, ...] = ()
    reply: str = ""
    message_id: str = ""

    @property
    def would_reach_inbox(self) -> bool:
        return self.folder == "inbox" and not has_errors(self.content)

    @property
    def reasons(self) -> tuple[str, ...]:
        """The codes of what keeps the mail from the inbox (empty when it gets there)."""
        return tuple(f.code for f in (*self.findings, *self.content) if f.severity is ERROR)

    def to_dict(self) -> JsonObject:
        return {
            "identity": self.identity,
            "to": self.to,
            "spf": self.spf,
            "dkim": self.dkim,
            "dmarc": self.dmarc,
            "dmarc_policy": self.dmarc_policy,
            "aligned": self.aligned,
            "folder": self.folder,
            "would_reach_inbox": self.would_reach_inbox,
            "reasons": list(self.reasons),
            "reply": self.reply,
            "message_id": self.message_id,
            "content": [f.to_dict() for f in self.content],
            "findings": [f.to_dict() for f in (*self.findings, *self.content)],
        }


def _object(value: object) -> Mapping[str, object]:
    """``value`` when it is a JSON object, else an empty one (a field the sink left out)."""
    return value if isinstance(value, Mapping) else {}


def _objects(value: object) -> list[Mapping[str, object]]:
    """The JSON objects in ``value`` when it is a list, else none."""
    items = value if isinstance(value, list | tuple) else ()
    return [item for item in items if isinstance(item, Mapping)]


def _dkim_result(entries: Sequence[Mapping[str, object]]) -> tuple[str, dict[str, object]]:
    if not entries:
        return "none", {}
    passed = next((e for e in entries if e.get("result") == "pass"), None)
    chosen = passed or entries[0]
    return str(chosen.get("result", "none")), dict(chosen)


def interpret_verdict(
    identity: str,
    to: str,
    *,
    stored: Mapping[str, object] | None,
    rejection: str = "",
    content: Sequence[Finding] = (),
) -> TestSendResult:
    """A ``TestSendResult`` from the sink's stored message (``CapturedMessage.as_json()``) or
    the SMTP ``rejection`` reply when the sink refused it. Pure; never raises."""
    if stored is None:
        reject = _finding(
            "testsend.rejected",
            ERROR,
            "the receiver refused the message",
            identity=identity,
            reply=rejection,
        )
        return TestSendResult(
            identity,
            to,
            "none",
            "none",
            "none",
            "none",
            False,
            "rejected",
            tuple(content),
            (reject,),
            reply=rejection,
        )
    verdict = _object(stored.get("verdict"))
    data = _object(verdict.get("data"))
    spf = str(_object(data.get("spf")).get("result", "none"))
    dkim, dkim_entry = _dkim_result(_objects(data.get("dkim")))
    dmarc_data = _object(data.get("dmarc"))
    dmarc = str(dmarc_data.get("result", verdict.get("dmarc_result", "none")))
    policy = str(dmarc_data.get("policy") or verdict.get("dmarc_policy", "none"))
    aligned = bool(dmarc_data.get("spf_aligned") or dmarc_data.get("dkim_aligned"))
    folder = next(
        (
            str(m["folder"])
            for m in _objects(stored.get("mailboxes"))
            if m.get("address") == to.lower()
        ),
        "unknown",
    )
    findings = _auth_findings(identity, spf, dkim, dkim_entry, dmarc, policy, folder)
    return TestSendResult(
        identity,
        to,
        spf,
        dkim,
        dmarc,
        policy,
        aligned,
        folder,
        tuple(content),
        tuple(findings),
        message_id=str(stored.get("message_id") or ""),
    )


def _auth_findings(
    identity: str,
    spf: str,
    dkim: str,
    dkim_entry: Mapping[str, object],
    dmarc: str,
    policy: str,
    folder: str,
) -> list[Finding]:
    found: list[Finding] = []
    if spf != "pass":
        severity = ERROR if spf in ("fail", "permerror") else WARNING
        found.append(
            _finding(
                f"testsend.spf_{spf}",
                severity,
                f"SPF {spf}",
                "RFC 7208 §2.6",
                identity=identity,
                result=spf,
            )
        )
    if dkim != "pass":
        found.append(
            _finding(
                f"testsend.dkim_{dkim}",
                ERROR if dkim == "fail" else WARNING,
                f"DKIM {dkim}",
                "RFC 6376 §6.1",
                identity=identity,
                result=dkim,
                reason=dkim_entry.get("reason", ""),
                selector=dkim_entry.get("selector", ""),
            )
        )
    if dmarc != "pass":
        found.append(
            _finding(
                f"testsend.dmarc_{dmarc}",
                ERROR if dmarc == "fail" else WARNING,
                f"DMARC {dmarc} under p={policy}",
                "RFC 7489 §6.6.2",
                identity=identity,
                result=dmarc,
                policy=policy,
            )
        )
    if folder == "junk":
        found.append(
            _finding(
                "testsend.junk",
                ERROR,
                "the receiver filed the message as junk",
                identity=identity,
                dmarc=dmarc,
                policy=policy,
            )
        )
    elif folder == "inbox" and not found:
        found.append(
            _finding(
                "testsend.inbox", OK, "authenticated and filed in the inbox", identity=identity
            )
        )
    elif folder == "inbox":
        found.append(_finding("testsend.inbox", INFO, "filed in the inbox", identity=identity))
    return found


__all__ = [
    "CLIP_SIZE",
    "FOLDERS",
    "URL_SHORTENERS",
    "TestSendResult",
    "check_content",
    "extract_links",
    "interpret_verdict",
]
