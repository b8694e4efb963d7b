"""Receivers' spam verdicts, one decoder per filtering system: SpamAssassin (X-Spam-Status,
X-Spam-Flag), rspamd (X-Spamd-Result, X-Rspamd-Action), Gmail (DMARC ``dis=`` in its
Authentication-Results), Microsoft 365 (diag.headers.microsoft), and a few gateways. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from diag.headers.authresults import AuthenticationEntry
from diag.headers.fields import HeaderBlock
from diag.headers.microsoft import decode_microsoft
from diag.headers.model import Detail, Verdict, number

_SA_STATUS = re.compile(
    r"^\s*(?P<flag>yes|no)\b\s*,?\s*(?:(?:hits|score)\s*=\s*(?P<score>-?[\d.]+))?"
    r"(?:\s+required\s*=\s*(?P<required>-?[\d.]+))?",
    re.IGNORECASE,
)
_SA_TESTS = re.compile(r"\btests\s*=\s*(.*?)(?=\s+[a-z_]+\s*=|$)", re.IGNORECASE)
_SA_KEY = re.compile(r"\b(autolearn|version)\s*=\s*(\S+)", re.IGNORECASE)
_SA_HOST = re.compile(r"\bon\s+(\S+)\s*$")
_RSPAMD_HEAD = re.compile(
    r"^\s*(?:(?P<metric>[\w-]+)\s*:\s*)?(?P<flag>true|false)\s*"
    r"\[\s*(?P<score>-?[\d.]+)\s*/\s*(?P<required>-?[\d.]+)\s*\]",
    re.IGNORECASE,
)
_RSPAMD_SYMBOL = re.compile(r"([A-Z][A-Z0-9_]+)\s*\(\s*(-?[\d.]+)\s*\)")
_RSPAMD_SPAM_ACTIONS = frozenset({"add header", "rewrite subject", "reject"})
_RULE_FAMILIES: tuple[tuple[str, str], ...] = (
    ("BAYES_", "bayes"),
    ("RCVD_IN_", "ip_blocklist"),
    ("RBL_", "ip_blocklist"),
    ("RECEIVED_SPAMHAUS", "ip_blocklist"),
    ("URIBL_", "uri_blocklist"),
    ("SURBL", "uri_blocklist"),
    ("DBL_", "uri_blocklist"),
    ("R_SPF_", "spf"),
    ("SPF_", "spf"),
    ("R_DKIM_", "dkim"),
    ("DKIM_", "dkim"),
    ("DMARC_", "dmarc"),
    ("ARC_", "arc"),
    ("HTML_", "html"),
    ("MIME_", "mime"),
    ("FREEMAIL_", "freemail"),
    ("FORGED_", "forged"),
    ("SUBJ_", "subject"),
    ("MISSING_", "missing_header"),
)
MAX_RULES = 200  # rules decoded per verdict; the rest are left out


def rule_family(name: str) -> str:
    """The family of a SpamAssassin or rspamd rule name (``BAYES_99`` -> ``bayes``)."""
    upper = name.upper()
    return next((family for prefix, family in _RULE_FAMILIES if prefix in upper), "rule")


def decode_spamassassin(block: HeaderBlock) -> list[Verdict]:
    """One verdict per distinct X-Spam-Status value (identical copies are one)."""
    checker = block.first("X-Spam-Checker-Version") or ""
    host = _SA_HOST.search(checker)
    receiver = host[1].lower() if host else "spamassassin"
    flags = [v.strip().upper() for v in block.values("X-Spam-Flag")]
    verdicts = []
    statuses = block.values("X-Spam-Status")
    if not statuses and flags:  # a bare X-Spam-Flag: the verdict without score or threshold
        spam = flags[0] == "YES"
        detail = Detail("X-Spam-Flag", flags[0], f"sa.flag.{_yes_no(spam)}")
        category = "spam" if spam else "none"
        return [
            Verdict(receiver, "spamassassin", spam, None, None, (detail,), "X-Spam-Flag", category)
        ]
    for value in dict.fromkeys(statuses):
        match = _SA_STATUS.match(value)
        if match is None:
            continue
        spam = match["flag"].lower() == "yes"
        details = [Detail("X-Spam-Status", match["flag"].capitalize(), f"sa.{_yes_no(spam)}")]
        if flags:
            details.append(Detail("X-Spam-Flag", flags[0], f"sa.flag.{_yes_no(flags[0] == 'YES')}"))
        tests = _SA_TESTS.search(value)
        if tests:
            names = [t.strip() for t in re.split(r"[,\s]+", tests[1]) if t.strip()]
            details += [
                Detail("tests", n, f"sa.rule.{rule_family(n)}")
                for n in names[:MAX_RULES]
                if n.upper() != "NONE"
            ]
        details += [Detail(k.lower(), v, f"sa.{k.lower()}") for k, v in _SA_KEY.findall(value)]
        category = "spam" if spam else "none"
        verdicts.append(
            Verdict(
                receiver,
                "spamassassin",
                spam,
                number(match["score"] or ""),
                number(match["required"] or ""),
                tuple(details),
                "X-Spam-Status",
                category,
            )
        )
    return verdicts


def _yes_no(flag: bool) -> str:
    return "spam" if flag else "not_spam"


def decode_rspamd(block: HeaderBlock) -> list[Verdict]:
    """The verdict in X-Spamd-Result (with X-Rspamd-Action), if any."""
    result = block.first("X-Spamd-Result")
    action = (block.first("X-Rspamd-Action") or "").strip().lower()
    if result is None and not action:
        return []
    receiver = (block.first("X-Rspamd-Server") or "rspamd").strip().lower() or "rspamd"
    match = _RSPAMD_HEAD.match(result or "")
    details: list[Detail] = []
    flag: bool | None = None
    score = threshold = None
    if match:
        flag = match["flag"].lower() == "true"
        score, threshold = number(match["score"]), number(match["required"])
        details.append(Detail("result", match["flag"], f"rspamd.{_yes_no(flag)}"))
    if action:
        details.append(Detail("action", action, f"rspamd.action.{action.replace(' ', '_')}"))
    for name, weight in _RSPAMD_SYMBOL.findall(result or "")[:MAX_RULES]:
        details.append(Detail("symbol", f"{name}({weight})", f"rspamd.rule.{rule_family(name)}"))
    spam = flag
    if action:
        spam = action in _RSPAMD_SPAM_ACTIONS or bool(flag)
    category = "rejected" if action == "reject" else ("spam" if spam else "none")
    return [
        Verdict(
            receiver,
            "rspamd",
            spam,
            score,
            threshold,
            tuple(details),
            "X-Spamd-Result" if result else "X-Rspamd-Action",
            category,
        )
    ]


def decode_gmail(auth: Sequence[AuthenticationEntry]) -> list[Verdict]:
    """Gmail's DMARC disposition (``dis=``) from its Authentication-Results."""
    verdicts = []
    for entry in auth:
        if entry.source != "Authentication-Results" or not entry.receiver.endswith("google.com"):
            continue
        dis = entry.extras.get("dis", "")
        if not dis:
            continue
        details = [Detail("dis", dis, f"gmail.dmarc_disposition.{dis.lower()}")]
        if entry.extras.get("p"):
            details.append(Detail("p", entry.extras["p"], "gmail.dmarc_policy"))
        spam = dis in ("SPAM", "QUARANTINE", "REJECT")
        category = "dmarc_policy" if spam else "none"
        verdicts.append(
            Verdict(
                entry.receiver,
                "gmail",
                spam,
                None,
                None,
                tuple(details),
                "Authentication-Results",
                category,
            )
        )
        break  # the topmost Gmail stamp is the one that decided
    return verdicts


def decode_other(block: HeaderBlock) -> list[Verdict]:
    """Gateways that stamp a score: Mimecast, Proofpoint, Barracuda."""
    verdicts = []
    mimecast = block.first("X-Mimecast-Spam-Score")
    if mimecast is not None:
        score = number(mimecast)
        detail = Detail("X-Mimecast-Spam-Score", mimecast.strip(), "other.mimecast_score")
        verdicts.append(
            Verdict("mimecast", "other", None, score, None, (detail,), "X-Mimecast-Spam-Score")
        )
    proofpoint = block.first("X-Proofpoint-Spam-Details")
    if proofpoint is not None:
        values = dict(re.findall(r"(\w+)\s*=\s*([^\s,]+)", proofpoint))
        rule = values.get("rule", "").lower()
        spam = None if rule in ("", "default") else rule not in ("notspam", "safe")
        details = [Detail("rule", rule, f"other.proofpoint_rule.{rule or 'none'}")]
        verdicts.append(
            Verdict(
                "proofpoint",
                "other",
                spam,
                number(values.get("score", "")),
                None,
                tuple(details),
                "X-Proofpoint-Spam-Details",
                "spam" if spam else "none",
            )
        )
    barracuda = block.first("X-Barracuda-Spam-Status")
    if barracuda is not None:
        flag = barracuda.strip().lower().startswith("yes")
        found_score = re.search(r"SCORE=(-?[\d.]+)", barracuda, re.IGNORECASE)
        level = re.search(r"TAG_LEVEL=(-?[\d.]+)", barracuda, re.IGNORECASE)
        detail = Detail(
            "X-Barracuda-Spam-Status", "Yes" if flag else "No", f"other.barracuda.{_yes_no(flag)}"
        )
        verdicts.append(
            Verdict(
                "barracuda",
                "other",
                flag,
                number(found_score[1]) if found_score else None,
                number(level[1]) if level else None,
                (detail,),
                "X-Barracuda-Spam-Status",
                "spam" if flag else "none",
            )
        )
    return verdicts


def decode_verdicts(block: HeaderBlock, auth: Sequence[AuthenticationEntry]) -> tuple[Verdict, ...]:
    """Every verdict in ``block``: Microsoft, SpamAssassin, rspamd, Gmail, then the others."""
    return (
        *decode_microsoft(block, auth),
        *decode_spamassassin(block),
        *decode_rspamd(block),
        *decode_gmail(auth),
        *decode_other(block),
    )


__all__ = [
    "decode_gmail",
    "decode_other",
    "decode_rspamd",
    "decode_spamassassin",
    "decode_verdicts",
    "rule_family",
]
