"""Microsoft 365's SFV values (Microsoft Learn, "Anti-spam message headers in Microsoft 365") on
the samples in tests/data/headers: SFV:SKB is the blocked senders or domains list of the
organization's anti-spam policy, an administrator's setting, never the recipient's own Blocked
Senders list (SFV:BLK); every other documented value gets a consistent detail, verdict and
conclusion, worded in nb and en."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diag.headers import parse_headers
from reports.catalog_recipient import detail_text, translate_recipient

DATA = Path(__file__).resolve().parent.parent / "data" / "headers"

# SFV value -> (detail code, spam, (folder, reason))
SFV = {
    "spm": ("ms.sfv.spam", True, ("junk", "spam_filter")),
    "skb": ("ms.sfv.blocked_by_policy", True, ("junk", "admin_rule")),
    "skb-domain": ("ms.sfv.blocked_by_policy", True, ("junk", "admin_rule")),
    "blk": ("ms.sfv.blocked_by_user", True, ("junk", "user_rule")),
    "sks": ("ms.sfv.marked_spam_by_rule", True, ("junk", "admin_rule")),
    "ska": ("ms.sfv.allowed_by_policy", False, ("inbox", "allowlisted")),
    "skn": ("ms.sfv.marked_not_spam_by_rule", False, ("inbox", "allowlisted")),
    "ski": ("ms.sfv.intra_organization", False, ("inbox", "none")),
    "sfe": ("ms.sfv.safe_sender_of_user", False, ("inbox", "allowlisted")),
    "nspm": ("ms.sfv.not_spam", False, ("inbox", "none")),
    "bulk": ("ms.sfv.bulk", True, ("junk", "bulk")),
}


def analyze(name: str) -> dict[str, Any]:
    return parse_headers((DATA / f"m365-sfv-{name}.eml").read_bytes()).to_dict()


@pytest.mark.parametrize("name", sorted(SFV), ids=lambda n: f"microsoft[sfv]-{n}")
def test_sfv_values(name: str) -> None:
    code, spam, conclusion = SFV[name]
    data = analyze(name)
    verdict = data["verdicts"][0]
    assert verdict["system"] == "microsoft"
    sfv = next(d for d in verdict["details"] if d["field"] == "SFV")
    assert sfv["code"] == code
    assert verdict["spam"] is spam
    assert (data["conclusion"]["folder"], data["conclusion"]["reason"]) == conclusion
    for lang in ("nb", "en"):
        assert detail_text(code, lang)


@pytest.mark.parametrize("name", ["skb", "skb-domain"])
def test_skb_is_the_anti_spam_policy_not_the_users_list(name: str) -> None:
    data = analyze(name)
    assert data["conclusion"]["reason"] != "user_rule"
    assert "anti-spam policy" in data["conclusion"]["summary"]
    assert "administrator" in data["conclusion"]["summary"]
    junk = next(f for f in data["findings"] if f["code"] == "headers.junk")
    assert junk["evidence"]["reason"] == "admin_rule"


@pytest.mark.parametrize(
    ("lang", "policy", "own"),
    [("en", "anti-spam policy", "recipient's own"), ("nb", "spampolicy", "mottakerens egen")],
)
def test_wording_tells_the_two_lists_apart(lang: str, policy: str, own: str) -> None:
    assert policy in detail_text("ms.sfv.blocked_by_policy", lang)
    assert own in detail_text("ms.sfv.blocked_by_user", lang)
    assert policy in translate_recipient("headers.reason.admin_rule", lang)
    assert own in translate_recipient("headers.reason.user_rule", lang)
    assert own not in detail_text("ms.sfv.blocked_by_policy", lang)
