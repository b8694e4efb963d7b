"""Reports: one view-model per report, rendered through one jinja2 Environment to text,
Markdown, HTML and JSON, in Norwegian (nb) and English (en).
"""

from reports.authenticate import AuthenticateView, build_authenticate_view, render_authenticate
from reports.catalog import known_keys, translate
from reports.catalog_checklist import CHECKLIST_CATALOG
from reports.checklist import (
    ChecklistView,
    ItemView,
    checklist_json,
    checklist_view,
    render_checklist,
)
from reports.environment import LANGUAGES, environment, render
from reports.headers import HEADERS_FORMATS, HeadersView, build_headers_view, render_headers
from reports.recipient import (
    RECIPIENT_FORMATS,
    RecipientView,
    build_recipient_view,
    render_recipient,
)
from reports.sender import SenderView, build_sender_view, render_sender
from reports.spf import FORMATS, SpfView, build_spf_view, render_spf
from reports.svg import TimelineEvent, spf_tree_svg, timeline_svg
from reports.testsend import TestSendView, render_testsend, testsend_view

__all__ = [
    "CHECKLIST_CATALOG",
    "FORMATS",
    "HEADERS_FORMATS",
    "LANGUAGES",
    "RECIPIENT_FORMATS",
    "AuthenticateView",
    "ChecklistView",
    "HeadersView",
    "ItemView",
    "RecipientView",
    "SenderView",
    "SpfView",
    "TestSendView",
    "TimelineEvent",
    "build_authenticate_view",
    "build_headers_view",
    "build_recipient_view",
    "build_sender_view",
    "build_spf_view",
    "checklist_json",
    "checklist_view",
    "environment",
    "known_keys",
    "render",
    "render_authenticate",
    "render_checklist",
    "render_headers",
    "render_recipient",
    "render_sender",
    "render_spf",
    "render_testsend",
    "spf_tree_svg",
    "testsend_view",
    "timeline_svg",
    "translate",
]
