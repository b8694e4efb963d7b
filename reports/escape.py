"""Untrusted text made inert for the text and Markdown reports, as autoescape does for HTML.

Values in reports come from DNS answers, message headers, bounces and SMTP replies, which the
other side writes. In text output a value must not drive the terminal (ESC sequences, control
characters, bidirectional overrides) nor start a line of its own; in Markdown it must not
become markup (links, images, HTML, emphasis, headings, table cells, code). The environment
applies ``plain`` to every ``{{ }}`` of a ``.txt.j2`` template and ``markdown_text`` to every
one of a ``.md.j2`` template; ``markdown_code`` and ``markdown_fenced`` make a value a code
span or a line of a fenced block instead. What they return is ``Markup``: already escaped for
its place, so the environment leaves it as it is. Pure.
"""

from __future__ import annotations

import re

from markupsafe import Markup

# ECMA-48: CSI (ESC [ ... final byte), OSC/DCS/SOS/PM/APC strings up to BEL or ST, and any
# other two-byte escape.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?|.)?", re.DOTALL
)
_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]+")
# C0 and C1 controls, DEL, and the bidirectional embeddings, overrides and isolates.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# CommonMark §2.4: every ASCII punctuation character may be backslash-escaped; these start
# inline markup (code, emphasis, links, images, raw HTML and autolinks, GFM tables and
# strikethrough) wherever they stand. ">" does so only at the start of a line (below).
_MARKDOWN_INLINE = re.compile(r"([\\`*\[\]<|~])")
# An underscore inside a word never opens or closes emphasis (CommonMark §6.2): only the others.
_MARKDOWN_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block at the beginning of a line: a heading, a list item, a setext underline,
# a block quote, a thematic break (CommonMark §4, §5).
_MARKDOWN_BLOCK_MARK = re.compile(r"^(\s*)([#+=>-])")
_MARKDOWN_ORDERED = re.compile(r"^(\s*\d{1,9})([.)])(?=\s|$)")


def plain(value: object) -> str:
    """``value`` as one line of inert text: escape sequences and controls removed, line
    breaks and tabs made spaces."""
    text = _ESCAPE_SEQUENCE.sub("", str(value))
    return _CONTROLS.sub("", _BREAKS.sub(" ", text))


def markdown_text(value: object) -> Markup:
    """``value`` as Markdown text that renders as exactly that text, in a paragraph, a list
    item or a table cell."""
    text = _MARKDOWN_INLINE.sub(r"\\\1", plain(value))
    text = _MARKDOWN_UNDERSCORE.sub(r"\\_", text)
    text = _MARKDOWN_ORDERED.sub(r"\1\\\2", _MARKDOWN_BLOCK_MARK.sub(r"\1\\\2", text))
    return Markup(text)  # noqa: S704 - Markdown, escaped


def markdown_code(value: object, cell: bool = False) -> Markup:
    """``value`` as a Markdown code span (CommonMark §6.1), fenced with more backticks than it
    holds; in a table ``cell`` its pipes are escaped as GFM asks. Empty for an empty value."""
    text = plain(value)
    if not text:
        return Markup("")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    if cell:
        text = text.replace("|", "\\|")
    return Markup(f"{fence}{pad}{text}{pad}{fence}")  # noqa: S704 - Markdown, escaped


def markdown_fenced(value: object) -> Markup:
    """``value`` as one line inside a fenced code block: it cannot close the fence."""
    text = re.sub(r"`{3,}", lambda run: "'" * len(run[0]), plain(value))
    return Markup(text)  # noqa: S704 - Markdown, escaped


def finalize_for(template_name: str | None, value: object) -> object:
    """What ``{{ value }}`` writes in ``template_name``: escaped for a text or Markdown
    template, unchanged elsewhere (HTML autoescapes) and when it is already ``Markup``."""
    if isinstance(value, Markup) or template_name is None:
        return value
    if template_name.endswith(".md.j2"):
        return markdown_text(value)
    if template_name.endswith(".txt.j2"):
        return plain(value)
    return value


__all__ = ["finalize_for", "markdown_code", "markdown_fenced", "markdown_text", "plain"]
