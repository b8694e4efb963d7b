"""Lines of a message as receivers cut them: a line ends at LF, with a CR right before it.

The same cuts as the patterns ``\\r?\\n`` (``split_lines``) and ``\\r?\\n\\r?\\n`` (``header_end``),
found with ``bytes.find`` and ``bytes.split`` instead of a regex that is tried at every byte
of the message; tests/diag/test_lines.py compares them with those patterns.
"""

from __future__ import annotations

_CR = b"\r"


def split_lines(data: bytes) -> list[bytes]:
    """``re.split(rb"\\r?\\n", data)``: each LF ends a line, and takes one CR just before it."""
    pieces = data.split(b"\n")
    last = len(pieces) - 1
    for index in range(last):
        if pieces[index].endswith(_CR):
            pieces[index] = pieces[index][:-1]
    return pieces


def header_end(data: bytes) -> tuple[int, int] | None:
    """The span of ``re.search(rb"\\r?\\n\\r?\\n", data)``: where the first empty line starts the
    body (``data[:start]`` is the header block, ``data[end:]`` the body), or None."""
    newline = data.find(b"\n")
    while newline >= 0:
        after = data[newline + 1 : newline + 3]
        if after[:1] == b"\n" or after == b"\r\n":
            start = newline - 1 if data[newline - 1 : newline] == _CR else newline
            return start, newline + 1 + (1 if after[:1] == b"\n" else 2)
        newline = data.find(b"\n", newline + 1)
    return None
