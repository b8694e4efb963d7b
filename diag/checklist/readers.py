"""Pure readers for what a user pastes: the receiver's spam verdict in a message's header
fields, and the status and reply in a bounce (an RFC 3464 DSN or a plain-text bounce).

Text in, frozen values out; never raises for bad input (the worst outcome is "unknown").
Only the facts the checklist needs are read here; the full header and bounce analyses belong
to their own modules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from diag.authenticate import parse_header_block
from diag.checklist.facts import BounceFacts, SmtpReply, SpamVerdict

MAX_PASTE = 1024 * 1024  # bytes read from a paste; the rest is ignored
SCL_JUNK = 5  # Microsoft: SCL 5-6 goes to Junk Email, 9 is high-confidence spam
_SFV = re.compile(r"\bSFV:([A-Z]+)", re.IGNORECASE)
_CAT = re.compile(r"\bCAT:([A-Z]+)", re.IGNORECASE)
_REPLY = re.compile(r"\b([245][0-9][0-9])[ -]((?:[245])\.[0-9]{1,3}\.[0-9]{1,3})?\s*(.*)")
_STATUS = re.compile(r"^([245])\.([0-9]{1,3})\.([0-9]{1,3})$")
_SA_STATUS = re.compile(r"^\s*(yes|no)\b.*?score=(-?[0-9.]+).*?required=(-?[0-9.]+)", re.I | re.S)
_MS_CATEGORIES = {
    "PHSH": "phish",
    "HPHSH": "phish",
    "BULK": "bulk",
    "SPM": "spam_filter",
    "HSPM": "spam_filter",
    "SPOOF": "authentication",
}


def read_spam_verdict(raw: bytes) -> SpamVerdict:
    """The folder the receiver's filter chose, from its header fields (top receiver first)."""
    block = parse_header_block(raw[:MAX_PASTE])
    fields: Mapping[str, tuple[str, ...]] = {
        name: block.values(name)
        for name in (
            "x-forefront-antispam-report",
            "x-ms-exchange-organization-scl",
            "x-spam-flag",
            "x-spam-status",
            "x-rspamd-action",
            "authentication-results",
        )
    }
    for reader in (_microsoft, _spamassassin, _rspamd, _dmarc_disposition):
        verdict = reader(fields)
        if verdict is not None:
            return verdict
    return SpamVerdict("unknown", "none")


def _microsoft(fields: Mapping[str, tuple[str, ...]]) -> SpamVerdict | None:
    report = next(iter(fields["x-forefront-antispam-report"]), "")
    scl_text = next(iter(fields["x-ms-exchange-organization-scl"]), "").strip()
    if not report and not scl_text:
        return None
    sfv = _group(_SFV.search(report))
    cat = _group(_CAT.search(report))
    scl = int(scl_text) if re.fullmatch(r"-?[0-9]+", scl_text) else None
    details = {"scl": scl, "sfv": sfv, "cat": cat}
    if sfv in ("SKA", "SKN") or scl == -1:
        return SpamVerdict("inbox", "allowlisted", "microsoft", details)
    if sfv == "SKB":
        return SpamVerdict("junk", "user_rule", "microsoft", details)
    if sfv in ("SPM", "SKS", "BLK", "SKQ") or (scl is not None and scl >= SCL_JUNK):
        reason = _MS_CATEGORIES.get(cat, "spam_filter")
        folder = "quarantine" if sfv == "SKQ" else "junk"
        return SpamVerdict(folder, reason, "microsoft", details)
    return SpamVerdict("inbox", "none", "microsoft", details)


def _group(match: re.Match[str] | None) -> str:
    return match[1].upper() if match is not None else ""


def _spamassassin(fields: Mapping[str, tuple[str, ...]]) -> SpamVerdict | None:
    flag = next(iter(fields["x-spam-flag"]), "").strip().lower()
    status = next(iter(fields["x-spam-status"]), "")
    if not flag and not status:
        return None
    match = _SA_STATUS.match(status)
    details: dict[str, object] = {"flag": flag}
    if match:
        details.update(score=float(match[2]), threshold=float(match[3]))
    spam = flag == "yes" or (match is not None and match[1].lower() == "yes")
    if spam:
        return SpamVerdict("junk", "spam_filter", "spamassassin", details)
    return SpamVerdict("inbox", "none", "spamassassin", details)


def _rspamd(fields: Mapping[str, tuple[str, ...]]) -> SpamVerdict | None:
    action = next(iter(fields["x-rspamd-action"]), "").strip().lower()
    if not action:
        return None
    if action in ("reject",):
        return SpamVerdict("rejected", "spam_filter", "rspamd", {"action": action})
    if action in ("add header", "rewrite subject", "soft reject"):
        return SpamVerdict("junk", "spam_filter", "rspamd", {"action": action})
    return SpamVerdict("inbox", "none", "rspamd", {"action": action})


def _dmarc_disposition(fields: Mapping[str, tuple[str, ...]]) -> SpamVerdict | None:
    for value in fields["authentication-results"]:
        lowered = value.lower()
        if "dmarc=fail" in lowered and (
            "action=quarantine" in lowered or "p=quarantine" in lowered
        ):
            return SpamVerdict("junk", "authentication", "other", {"dmarc": "fail"})
        if "dmarc=fail" in lowered and ("action=reject" in lowered or "p=reject" in lowered):
            return SpamVerdict("rejected", "authentication", "other", {"dmarc": "fail"})
    return None


def parse_smtp_reply(text: str) -> SmtpReply | None:
    """The first ``NNN [X.Y.Z] text`` reply in ``text``, or None. Pure."""
    match = _REPLY.search(text)
    if match is None:
        return None
    return SmtpReply(int(match[1]), match[2] or "", match[3].strip()[:500])


def read_bounce(raw: bytes) -> BounceFacts:
    """Status, action, recipient, remote MTA and the SMTP reply in a bounce. Never raises."""
    text = raw[:MAX_PASTE].decode("utf-8", "replace").replace("\r\n", "\n")
    values: dict[str, str] = {}
    for line in text.split("\n"):
        name, colon, value = line.partition(":")
        key = name.strip().lower()
        if (
            colon
            and key
            in (
                "status",
                "action",
                "final-recipient",
                "original-recipient",
                "remote-mta",
                "diagnostic-code",
            )
            and key not in values
        ):
            values[key] = value.strip()
    status = values.get("status", "").split(" ")[0]
    if not _STATUS.match(status):
        status = ""
    diagnostic = values.get("diagnostic-code", "")
    diagnostic_text = diagnostic.partition(";")[2].strip() if ";" in diagnostic else diagnostic
    reply = parse_smtp_reply(diagnostic_text) if diagnostic_text else None
    if reply is None and not status:
        reply = parse_smtp_reply(text)
    if not status and reply is not None:
        status = reply.enhanced
    recipient = values.get("final-recipient") or values.get("original-recipient", "")
    return BounceFacts(
        status=status,
        action=values.get("action", "").lower(),
        recipient=recipient.partition(";")[2].strip() if ";" in recipient else recipient,
        remote_mta=values.get("remote-mta", "").partition(";")[2].strip(),
        diagnostic=diagnostic_text[:500],
        reply=reply,
        is_dsn="status" in values,
    )


__all__ = ["parse_smtp_reply", "read_bounce", "read_spam_verdict"]
