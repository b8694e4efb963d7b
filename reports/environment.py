"""The one jinja2 Environment that reports, pages and mails render through.

Autoescape is on for HTML and XML templates; every ``{{ }}`` of a text or Markdown template is
made inert for its format (``reports.escape``); undefined names fail loudly. A template name
``<package>/<name>`` is read from that package's ``templates/`` folder (``maildiag/check.html``,
``reset/reset_nb.txt``), any other name from the reports' own, so a page includes a report's
template and the report is rendered once, in place, never carried across as a string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache

import jinja2

from reports.escape import finalize_for, markdown_code, markdown_fenced
from reports.vocabulary import Format, JsonObject, ReportKind, report_format

_OWN = "reports"
_PACKAGE = frozenset("abcdefghijklmnopqrstuvwxyz_")


class _PackageTemplates(jinja2.BaseLoader):
    """``<package>/<name>`` from that package's ``templates/``; other names from the reports'."""

    def __init__(self) -> None:
        self._loaders: dict[str, jinja2.PackageLoader] = {}

    def _split(self, template: str) -> tuple[jinja2.PackageLoader, str]:
        package, slash, name = template.partition("/")
        if not slash or not package or not set(package) <= _PACKAGE:
            package, name = _OWN, template
        if package not in self._loaders:
            try:
                self._loaders[package] = jinja2.PackageLoader(package, "templates")
            except (ImportError, ValueError) as exc:
                raise jinja2.TemplateNotFound(template) from exc
        return self._loaders[package], name

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        loader, name = self._split(template)
        return loader.get_source(environment, name)


@cache
def environment() -> jinja2.Environment:
    """The shared Environment (built once; it holds no request state)."""
    env = jinja2.Environment(
        loader=_PackageTemplates(),
        autoescape=jinja2.select_autoescape(["html", "htm", "xml", "svg", "html.j2", "svg.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["md_code"] = markdown_code
    env.filters["md_fenced"] = markdown_fenced
    env.filters["ms"] = lambda seconds: f"{float(seconds) * 1000:.0f} ms"
    return env


@jinja2.pass_context
def _finalize(context: jinja2.runtime.Context, value: object) -> object:
    return finalize_for(context.name, value)


def render(template: str, **context: object) -> str:
    """``template`` rendered with ``context`` (a report template takes its view as ``v`` or
    ``view``). Raises jinja2.TemplateNotFound for an unknown template."""
    return environment().get_template(template).render(**context)


def render_report(
    kind: ReportKind,
    fmt: str,
    templates: Mapping[Format, str],
    data: Callable[[], JsonObject],
    **context: object,
) -> str:
    """One of ``kind``'s formats: JSON from ``data()``, any other from its template in
    ``templates`` with ``context``. Raises ValueError for a format ``kind`` does not have."""
    chosen = report_format(kind, fmt)
    if chosen is Format.JSON:
        return json.dumps(data(), indent=2, ensure_ascii=False) + "\n"
    return render(templates[chosen], **context)


__all__ = ["environment", "render", "render_report"]
