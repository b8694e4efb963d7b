"""Microsoft 365 / Exchange Online Protection spam verdicts: X-Forefront-Antispam-Report (and
its -Untrusted copy), X-MS-Exchange-Organization-SCL, X-Microsoft-Antispam (BCL) and the
compauth result in Authentication-Results, decoded into stable detail codes. Pure.

Field meanings follow Microsoft Learn, "Anti-spam message headers in Microsoft 365": SFV:BLK is
the recipient's own Blocked Senders list, SFV:SKB the blocked senders or domains list of the
organization's anti-spam policy (an administrator's setting; the mail is marked as spam).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from diag.headers.authresults import AuthenticationEntry
from diag.headers.fields import HeaderBlock
from diag.headers.model import Detail, Verdict, number

SPAM_SCL = 5  # SCL 5-6: spam; 7-9: high confidence spam; -1: filtering skipped
HIGH_SPAM_SCL = 7
DEFAULT_BULK_THRESHOLD = 7  # the default anti-spam policy's BCL threshold (Standard 6, Strict 5)
RECEIVER = "microsoft365"
UNTRUSTED_RECEIVER = "microsoft365 (sending tenant)"

SFV: Mapping[str, str] = MappingProxyType(
    {
        "SPM": "ms.sfv.spam",
        "NSPM": "ms.sfv.not_spam",
        "SKS": "ms.sfv.marked_spam_by_rule",
        "SKN": "ms.sfv.marked_not_spam_by_rule",
        "SKA": "ms.sfv.allowed_by_policy",
        "SKB": "ms.sfv.blocked_by_policy",
        "BLK": "ms.sfv.blocked_by_user",
        "SFE": "ms.sfv.safe_sender_of_user",
        "SKI": "ms.sfv.intra_organization",
        "SKQ": "ms.sfv.released_from_quarantine",
        "SKU": "ms.sfv.skipped",
        "SKV": "ms.sfv.skipped",
        "BULK": "ms.sfv.bulk",
    }
)
CAT: Mapping[str, str] = MappingProxyType(
    {
        "NONE": "ms.cat.none",
        "SPM": "ms.cat.spam",
        "HSPM": "ms.cat.high_confidence_spam",
        "PHSH": "ms.cat.phish",
        "HPHSH": "ms.cat.high_confidence_phish",
        "HPHISH": "ms.cat.high_confidence_phish",
        "BULK": "ms.cat.bulk",
        "MALW": "ms.cat.malware",
        "AMP": "ms.cat.malware",
        "SAP": "ms.cat.safe_attachments",
        "FTBP": "ms.cat.blocked_file_type",
        "SPOOF": "ms.cat.spoof",
        "GIMP": "ms.cat.mailbox_intelligence_impersonation",
        "UIMP": "ms.cat.user_impersonation",
        "DIMP": "ms.cat.domain_impersonation",
        "OSPM": "ms.cat.outbound_spam",
        "INTOS": "ms.cat.intra_organization_phish",
    }
)
_CAT_CATEGORY: Mapping[str, str] = MappingProxyType(
    {
        "PHSH": "phish",
        "HPHSH": "phish",
        "HPHISH": "phish",
        "INTOS": "phish",
        "MALW": "malware",
        "AMP": "malware",
        "SAP": "malware",
        "FTBP": "malware",
        "GIMP": "impersonation",
        "UIMP": "impersonation",
        "DIMP": "impersonation",
        "SPOOF": "spoof",
        "BULK": "bulk",
        "HSPM": "high_spam",
        "SPM": "spam",
        "OSPM": "spam",
    }
)
_SFV_CATEGORY: Mapping[str, str] = MappingProxyType(
    {
        "BLK": "user_rule",
        "SKB": "policy_blocklist",
        "SKS": "admin_rule",
        "BULK": "bulk",
        "SFE": "allowlisted",
        "SKA": "allowlisted",
        "SKN": "allowlisted",
    }
)
_NOT_SPAM_SFV = frozenset({"NSPM", "SKA", "SKN", "SFE", "SKI", "SKQ"})
_SPAM_SFV = frozenset({"SPM", "SKS", "SKB", "BLK", "BULK"})
DIR: Mapping[str, str] = MappingProxyType(
    {"INB": "ms.dir.inbound", "OUT": "ms.dir.outbound", "INT": "ms.dir.internal"}
)
IPV: Mapping[str, str] = MappingProxyType(
    {"CAL": "ms.ipv.ip_allow_list", "NLI": "ms.ipv.not_listed"}
)
_INFO_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "CIP": "ms.connecting_ip",
        "CTRY": "ms.country",
        "LANG": "ms.language",
        "H": "ms.helo",
        "PTR": "ms.ptr",
    }
)


def parse_forefront(value: str) -> dict[str, str]:
    """``CIP:1.2.3.4;SCL:1;SFV:NSPM;...`` as a dict (upper-case keys, last one wins)."""
    fields: dict[str, str] = {}
    for part in value.split(";"):
        key, colon, val = part.strip().partition(":")
        if colon and key.strip():
            fields[key.strip().upper()] = val.strip()
    return fields


def scl_code(scl: int) -> str:
    if scl < 0:
        return "ms.scl.filtering_skipped"
    if scl >= HIGH_SPAM_SCL:
        return "ms.scl.high_confidence_spam"
    if scl >= SPAM_SCL:
        return "ms.scl.spam"
    return "ms.scl.not_spam"


def bcl_code(bcl: int) -> str:
    if bcl <= 0:
        return "ms.bcl.not_bulk"
    if bcl <= 3:  # Microsoft's BCL bands: 1-3, 4-7, 8-9
        return "ms.bcl.bulk_few_complaints"
    if bcl <= 7:
        return "ms.bcl.bulk_mixed_complaints"
    return "ms.bcl.bulk_many_complaints"


def compauth_reason_code(reason: str) -> str:
    """Microsoft's compauth reason number as a stable code."""
    exact = {"000": "explicit_fail", "001": "implicit_fail", "002": "org_prohibits_spoofing"}
    exact["010"] = "dmarc_fail_accepted_domain"
    if reason in exact:
        return f"ms.compauth_reason.{exact[reason]}"
    bands = {"1": "passed", "7": "passed", "2": "soft_passed", "3": "not_checked"}
    bands |= {"4": "bypassed", "9": "bypassed", "6": "implicit_fail_accepted_domain"}
    if len(reason) == 3 and reason.isdigit() and reason[0] in bands:
        return f"ms.compauth_reason.{bands[reason[0]]}"
    return "ms.compauth_reason.other"


def decode_microsoft(block: HeaderBlock, auth: Sequence[AuthenticationEntry]) -> list[Verdict]:
    """The Microsoft verdicts in ``block``: the receiving tenant's, then any untrusted copy."""
    verdicts = []
    trusted = block.first("X-Forefront-Antispam-Report")
    org_scl = block.first("X-MS-Exchange-Organization-SCL")
    antispam = block.first("X-Microsoft-Antispam")
    if trusted is not None or org_scl is not None:
        verdicts.append(
            _verdict(
                parse_forefront(trusted or ""),
                org_scl,
                antispam,
                auth,
                header="X-Forefront-Antispam-Report"
                if trusted is not None
                else "X-MS-Exchange-Organization-SCL",
                receiver=RECEIVER,
                untrusted=False,
            )
        )
    untrusted = block.first("X-Forefront-Antispam-Report-Untrusted")
    if untrusted is not None:
        verdicts.append(
            _verdict(
                parse_forefront(untrusted),
                None,
                block.first("X-Microsoft-Antispam-Untrusted"),
                (),
                header="X-Forefront-Antispam-Report-Untrusted",
                receiver=UNTRUSTED_RECEIVER,
                untrusted=True,
            )
        )
    return verdicts


def _verdict(
    fields: Mapping[str, str],
    org_scl: str | None,
    antispam: str | None,
    auth: Sequence[AuthenticationEntry],
    *,
    header: str,
    receiver: str,
    untrusted: bool,
) -> Verdict:
    details: list[Detail] = []
    scl_value = number(fields.get("SCL", "") or (org_scl or ""))
    scl = int(scl_value) if scl_value is not None else None
    if scl is not None:
        details.append(Detail("SCL", str(scl), scl_code(scl)))
    sfv = fields.get("SFV", "").upper()
    if sfv:
        details.append(Detail("SFV", sfv, SFV.get(sfv, "ms.sfv.other")))
    cat = fields.get("CAT", "").upper()
    if cat:
        details.append(Detail("CAT", cat, CAT.get(cat, "ms.cat.other")))
    bcl = _bcl(antispam)
    if bcl is not None:
        details.append(Detail("BCL", str(bcl), bcl_code(bcl)))
    if fields.get("SRV", "").upper() == "BULK":
        details.append(Detail("SRV", "BULK", "ms.srv.bulk"))
    direction = fields.get("DIR", "").upper()
    if direction:
        details.append(Detail("DIR", direction, DIR.get(direction, "ms.dir.other")))
    ipv = fields.get("IPV", "").upper()
    if ipv:
        details.append(Detail("IPV", ipv, IPV.get(ipv, "ms.ipv.other")))
    details += [Detail(k, fields[k], code) for k, code in _INFO_FIELDS.items() if fields.get(k)]
    details += _compauth(auth)
    category = _category(sfv, cat, scl, bcl)
    spam = _is_spam(sfv, cat, scl, category)
    final = not untrusted and direction != "OUT"
    return Verdict(
        receiver, "microsoft", spam, scl, SPAM_SCL, tuple(details), header, category, final
    )


def _bcl(antispam: str | None) -> int | None:
    if not antispam:
        return None
    value = parse_forefront(antispam).get("BCL")
    parsed = number(value) if value else None
    return int(parsed) if parsed is not None else None


def _compauth(auth: Sequence[AuthenticationEntry]) -> list[Detail]:
    for entry in auth:  # the receiving tenant's own results, never an ARC set's
        if entry.source != "Authentication-Results":
            continue
        found = entry.method("compauth")
        if found:
            details = [Detail("compauth", found[0].result, f"ms.compauth.{found[0].result}")]
            if found[0].reason:
                reason = found[0].reason
                details.append(Detail("compauth reason", reason, compauth_reason_code(reason)))
            return details
    return []


def _category(sfv: str, cat: str, scl: int | None, bcl: int | None) -> str:
    by_cat = _CAT_CATEGORY.get(cat, "")
    if by_cat in ("phish", "malware", "impersonation"):
        return by_cat
    if sfv in _SFV_CATEGORY:
        return _SFV_CATEGORY[sfv]
    if by_cat:
        return by_cat
    if scl is not None and scl >= SPAM_SCL:
        if bcl is not None and bcl >= DEFAULT_BULK_THRESHOLD:
            return "bulk"
        return "high_spam" if scl >= HIGH_SPAM_SCL else "spam"
    if sfv == "SPM":
        return "spam"
    return "none"


def _is_spam(sfv: str, cat: str, scl: int | None, category: str) -> bool | None:
    if category == "allowlisted" or (sfv in _NOT_SPAM_SFV and category == "none"):
        return False
    if sfv in _SPAM_SFV or category not in ("none", "allowlisted"):
        return True
    if scl is not None:
        return scl >= SPAM_SCL
    return None if not sfv and not cat else False


__all__ = [
    "CAT",
    "DEFAULT_BULK_THRESHOLD",
    "SFV",
    "bcl_code",
    "compauth_reason_code",
    "decode_microsoft",
    "parse_forefront",
    "scl_code",
]
