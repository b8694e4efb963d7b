"""Reports: one view-model per report, rendered through one jinja2 Environment to text,
Markdown, HTML and JSON, in Norwegian (nb) and English (en).
"""

from reports.catalog import known_keys, translate
from reports.environment import LANGUAGES, environment, render
from reports.spf import FORMATS, SpfView, build_spf_view, render_spf

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "SpfView",
    "build_spf_view",
    "environment",
    "known_keys",
    "render",
    "render_spf",
    "translate",
]
