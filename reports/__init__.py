"""Reports: one view-model per report, built from the diag value it reports on, rendered
through one jinja2 Environment to text, Markdown, HTML (a document, or a fragment a page
includes) and JSON, in Norwegian (nb) and English (en). Each report ``<x>`` has
``<x>_view(result, *, lang, ...)``, ``render_<x>(view, *, fmt)`` and ``<x>_json(view)``, the
only place its JSON is made.
"""

from reports.authenticate import (
    AUTH_FORMATS,
    AuthenticateView,
    authenticate_json,
    authenticate_view,
    render_authenticate,
)
from reports.catalog import known_keys, translate
from reports.catalog_checklist import CHECKLIST_CATALOG
from reports.chart import ChartDay, disposition_chart, disposition_chart_svg
from reports.checklist import (
    CHECKLIST_FORMATS,
    ChecklistView,
    ItemView,
    checklist_json,
    checklist_view,
    render_checklist,
)
from reports.environment import environment, render
from reports.headers import HEADERS_FORMATS, HeadersView, headers_json, headers_view, render_headers
from reports.i18n import format_when
from reports.recipient import (
    RECIPIENT_FORMATS,
    RecipientView,
    recipient_json,
    recipient_view,
    render_recipient,
)
from reports.scan import (
    SCAN_FORMATS,
    ScanCounts,
    ScanRow,
    ScanView,
    render_scan,
    scan_json,
    scan_row,
    scan_view,
)
from reports.sender import SENDER_FORMATS, SenderView, render_sender, sender_json, sender_view
from reports.spf import SPF_FORMATS, SpfView, render_spf, spf_json, spf_view
from reports.svg import TimelineEvent, spf_tree_svg, timeline_svg
from reports.testsend import (
    TESTSEND_FORMATS,
    TestSendView,
    render_testsend,
    testsend_json,
    testsend_view,
)
from reports.vocabulary import (
    LANGUAGES,
    Audience,
    Format,
    ItemKey,
    JsonObject,
    JsonValue,
    Language,
    ReportKind,
    Status,
)

__all__ = [
    "AUTH_FORMATS",
    "CHECKLIST_CATALOG",
    "CHECKLIST_FORMATS",
    "HEADERS_FORMATS",
    "LANGUAGES",
    "RECIPIENT_FORMATS",
    "SCAN_FORMATS",
    "SENDER_FORMATS",
    "SPF_FORMATS",
    "TESTSEND_FORMATS",
    "Audience",
    "AuthenticateView",
    "ChartDay",
    "ChecklistView",
    "Format",
    "HeadersView",
    "ItemKey",
    "ItemView",
    "JsonObject",
    "JsonValue",
    "Language",
    "RecipientView",
    "ReportKind",
    "ScanCounts",
    "ScanRow",
    "ScanView",
    "SenderView",
    "SpfView",
    "Status",
    "TestSendView",
    "TimelineEvent",
    "authenticate_json",
    "authenticate_view",
    "checklist_json",
    "checklist_view",
    "disposition_chart",
    "disposition_chart_svg",
    "environment",
    "format_when",
    "headers_json",
    "headers_view",
    "known_keys",
    "recipient_json",
    "recipient_view",
    "render",
    "render_authenticate",
    "render_checklist",
    "render_headers",
    "render_recipient",
    "render_scan",
    "render_sender",
    "render_spf",
    "render_testsend",
    "scan_json",
    "scan_row",
    "scan_view",
    "sender_json",
    "sender_view",
    "spf_json",
    "spf_tree_svg",
    "spf_view",
    "testsend_json",
    "testsend_view",
    "timeline_svg",
    "translate",
]
