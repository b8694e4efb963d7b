"""SPF (RFC 7208): record parsing, macro expansion and check_host() evaluation with a trace.

Import these names from ``diag.spf``; the submodules are internal layout.
"""

from diag.spf.evaluate import check_host
from diag.spf.flatten import SpfNode
from diag.spf.lint import SpfLint, lint_spf
from diag.spf.macros import MacroContext, expand_macros
from diag.spf.parse import Mechanism, Modifier, SpfRecord, is_spf_record, parse_spf
from diag.spf.result import SpfResult, TraceStep

__all__ = [
    "MacroContext",
    "Mechanism",
    "Modifier",
    "SpfLint",
    "SpfNode",
    "SpfRecord",
    "SpfResult",
    "TraceStep",
    "check_host",
    "expand_macros",
    "is_spf_record",
    "lint_spf",
    "parse_spf",
]
