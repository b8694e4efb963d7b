"""The one jinja2 Environment every report renders through, and the nb/en catalog lookup.

Autoescape is on for HTML and XML templates; every ``{{ }}`` of a text or Markdown template is
made inert for its format (``reports.escape``); undefined names fail loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache, partial
from typing import Any

import jinja2

from reports.catalog import translate
from reports.escape import finalize_for, markdown_code, markdown_fenced

LANGUAGES = ("nb", "en")


@cache
def environment() -> jinja2.Environment:
    """The shared Environment (built once; it holds no request state)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
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
def _finalize(context: jinja2.runtime.Context, value: Any) -> Any:
    return finalize_for(context.name, value)


def render(
    template: str,
    context: Mapping[str, Any],
    *,
    lang: str,
    translate: Callable[..., str] = translate,
    **per_language: Callable[[Any, str], str],
) -> str:
    """Render ``template`` with ``context`` in ``lang`` (``nb`` or ``en``).

    ``t(key, **values)`` in the template is ``translate(key, lang, **values)``; each further
    keyword ``name=fn`` becomes ``name(value)`` = ``fn(value, lang)`` (e.g. ``finding_text``).
    Raises ValueError for an unknown language.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")

    def t(key: str, **values: Any) -> str:
        return translate(key, lang, **values)

    helpers = {name: partial(_in_language, fn, lang) for name, fn in per_language.items()}
    return environment().get_template(template).render(**context, **helpers, t=t, lang=lang)


def _in_language(fn: Callable[[Any, str], str], lang: str, value: Any) -> str:
    return fn(value, lang)
