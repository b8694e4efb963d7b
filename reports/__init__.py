"""Reports: one view-model per report, rendered through one jinja2 Environment to text,
Markdown, HTML and JSON, in Norwegian (nb) and English (en).
"""

from reports.authenticate import AuthenticateView, build_authenticate_view, render_authenticate
from reports.catalog import known_keys, translate
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

__all__ = [
    "FORMATS",
    "HEADERS_FORMATS",
    "LANGUAGES",
    "RECIPIENT_FORMATS",
    "AuthenticateView",
    "HeadersView",
    "RecipientView",
    "SenderView",
    "SpfView",
    "build_authenticate_view",
    "build_headers_view",
    "build_recipient_view",
    "build_sender_view",
    "build_spf_view",
    "environment",
    "known_keys",
    "render",
    "render_authenticate",
    "render_headers",
    "render_recipient",
    "render_sender",
    "render_spf",
    "translate",
]
