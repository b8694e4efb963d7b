"""The password policy: the seed article's five rules, confirmation, and common passwords.

Owns the pure check of a candidate password and the rule texts in nb and en. It reports every
rule separately under a stable id (``length``, ``upper``, ``lower``, ``digit``, ``special``)
so the page can tick them live and the server can enforce the same rules. It never logs or
stores the password it checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType

# The seed's rules, in the order the page lists them.
RULE_IDS = ("length", "upper", "lower", "digit", "special")
# Checks beyond the live rules; they are reported in ``PolicyReport.failed`` too.
CHECK_IDS = ("max_length", "common", "context", "confirmation")

# OWASP Authentication Cheat Sheet: allow at least 64 characters; a cap bounds hashing cost.
DEFAULT_MAX_LENGTH = 128
_MIN_CONTEXT_WORD = 4

_TEXTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "nb": MappingProxyType(
            {
                "length": "Minimum {n} tegn",
                "upper": "Minimum {n} store tegn",
                "lower": "Minimum {n} små tegn",
                "digit": "Minimum {n} numeriske tegn",
                "special": "Minimum {n} spesialtegn",
                "max_length": "Maksimum {n} tegn",
                "common": "Passordet er for vanlig eller har vært lekket",
                "context": "Passordet kan ikke inneholde e-postadressen eller navnet ditt",
                "confirmation": "Passordene er ikke like",
            }
        ),
        "en": MappingProxyType(
            {
                "length": "At least {n} characters",
                "upper": "At least {n} upper-case letter(s)",
                "lower": "At least {n} lower-case letter(s)",
                "digit": "At least {n} digit(s)",
                "special": "At least {n} special character(s)",
                "max_length": "At most {n} characters",
                "common": "The password is too common or has appeared in a breach",
                "context": "The password must not contain your e-mail address or name",
                "confirmation": "The passwords do not match",
            }
        ),
    }
)


def load_common_passwords() -> frozenset[str]:
    """The offline list of common and breached passwords shipped by ``zxcvbn`` (lower-case).

    zxcvbn's ``passwords`` frequency list holds the 30,000 most frequent passwords of public
    breach corpora. It is read from the installed package; nothing is fetched.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


@dataclasses.dataclass(frozen=True)
class RuleResult:
    """One rule's state: ``id`` from RULE_IDS or CHECK_IDS, ``ok``, and its threshold ``n``."""

    id: str
    ok: bool
    n: int = 0


@dataclasses.dataclass(frozen=True)
class PolicyReport:
    """The result of one check: every rule in order, and the ids of those that failed."""

    rules: tuple[RuleResult, ...]
    checks: tuple[RuleResult, ...]

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(r.id for r in (*self.rules, *self.checks) if not r.ok)

    @property
    def ok(self) -> bool:
        return not self.failed

    def texts(self, lang: str) -> tuple[tuple[str, str, bool], ...]:
        """``(id, text, ok)`` for every live rule, worded in ``lang`` (nb or en)."""
        return tuple((r.id, rule_text(r.id, lang, r.n), r.ok) for r in self.rules)


def rule_text(rule_id: str, lang: str, n: int = 0) -> str:
    """The wording of one rule or check in ``lang``; raises KeyError for an unknown id or lang."""
    return _TEXTS[lang][rule_id].format(n=n)


def _is_special(char: str) -> bool:
    return not char.isalnum() and not char.isspace()


def _cores(password: str) -> set[str]:
    """Lower-case forms a dictionary lookup should catch: as typed, and stripped of decoration."""
    lower = password.lower()
    alnum = "".join(c for c in lower if c.isalnum())
    letters = lower.rstrip("0123456789!@#$%^&*()-_=+.,;:?'\"~` ").lstrip("0123456789!@#$%^&*")
    return {lower, alnum, letters}


@dataclasses.dataclass(frozen=True)
class PasswordPolicy:
    """A configurable password policy; the defaults are the seed article's rules.

    ``common`` is the refused-password list (lower-case); by default zxcvbn's list. Pass an
    empty frozenset to switch the dictionary check off.
    """

    min_length: int = 8
    max_length: int = DEFAULT_MAX_LENGTH
    min_upper: int = 1
    min_lower: int = 1
    min_digit: int = 1
    min_special: int = 1
    common: frozenset[str] = dataclasses.field(default_factory=load_common_passwords, repr=False)

    def describe(self, lang: str) -> tuple[dict[str, str | int], ...]:
        """The live rules as data for the page (``id``, ``n``, ``text``), before any typing.

        The page's script ticks them with the same counts ``rules`` uses: ``length`` counts
        characters; ``upper``/``lower``/``digit`` Unicode letters and digits; ``special``
        anything that is neither a letter, a digit nor white space.
        """
        thresholds = dict(zip(RULE_IDS, self._thresholds(), strict=True))
        return tuple(
            {"id": rid, "n": thresholds[rid], "text": rule_text(rid, lang, thresholds[rid])}
            for rid in RULE_IDS
        )

    def _thresholds(self) -> tuple[int, ...]:
        return (self.min_length, self.min_upper, self.min_lower, self.min_digit, self.min_special)

    def rules(self, password: str) -> tuple[RuleResult, ...]:
        """The five live rules for ``password``, in RULE_IDS order."""
        counts = {
            "length": (len(password), self.min_length),
            "upper": (sum(c.isupper() for c in password), self.min_upper),
            "lower": (sum(c.islower() for c in password), self.min_lower),
            "digit": (sum(c.isdigit() for c in password), self.min_digit),
            "special": (sum(_is_special(c) for c in password), self.min_special),
        }
        return tuple(
            RuleResult(rid, counts[rid][0] >= counts[rid][1], counts[rid][1]) for rid in RULE_IDS
        )

    def check(
        self,
        password: str,
        confirmation: str | None = None,
        *,
        context: Iterable[str] = (),
    ) -> PolicyReport:
        """Check ``password`` against every rule; pure, never raises.

        ``confirmation`` (when given) must equal ``password``. ``context`` holds words the
        password must not contain, such as the address's local part and the product name.
        """
        lower = password.lower()
        words = [w.lower() for w in context if len(w) >= _MIN_CONTEXT_WORD]
        checks = (
            RuleResult("max_length", len(password) <= self.max_length, self.max_length),
            RuleResult("common", not (_cores(password) & self.common)),
            RuleResult("context", not any(w in lower for w in words)),
            RuleResult("confirmation", confirmation is None or confirmation == password),
        )
        return PolicyReport(rules=self.rules(password), checks=checks)
