"""Bring a study from the website's internal rendering back to the API v2 form.

The registry's internal endpoints (the website's "History of Changes") render text for
display: some fields as HTML (`<p>`, `<ul><li>`), others with HTML entities (`&#x2F;`),
search terms wrapped in `<mark>`. API v2 gives the same fields as markdown-like text in
which `< > [ ] & ^` are escaped with a backslash. This module turns the first form into
the second as closely as the rendering allows; diff compares these fields by their words
(same_text), so what the rendering cannot tell apart is never a change.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bs4 import Tag

MARKDOWN_FIELDS = frozenset({"briefSummary", "detailedDescription", "eligibilityCriteria",
                             "description"})
BLOCK_TAGS = re.compile(r"<(p|ul|ol|li|br)\b", re.I)
INLINE_TAG = re.compile(r"</?(mark|span|strong|em|b|i|u|sup|sub)\b[^>]*>", re.I)
ESCAPED = re.compile(r"([<>\[\]&^])")
LIST_MARKER = re.compile(r"^\s*(?:[*+-]|\d+\\?\.)\s+", re.M)
BACKSLASH = re.compile(r"\\([\\<>\[\]&^*.#_`|~+!()-])")


def from_internal(value: Any, key: str = "") -> Any:
    """The value with every string brought to the API v2 text form."""
    if isinstance(value, dict):
        return {k: from_internal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [from_internal(v, key) for v in value]
    if isinstance(value, str):
        return text(value, key in MARKDOWN_FIELDS)
    return value


def text(value: str, markdown: bool) -> str:
    if markdown and BLOCK_TAGS.search(value):
        # BeautifulSoup loads only for such HTML, which only the registry's history has:
        # it takes 80 ms, a sixth of every command's start.
        from bs4 import BeautifulSoup

        return _blocks(BeautifulSoup(value, "html.parser"))
    plain = html.unescape(INLINE_TAG.sub("", value))
    return ESCAPED.sub(r"\\\1", plain) if markdown else plain


def _blocks(node: Tag, depth: int = 0) -> str:
    """Paragraphs apart by a blank line, list items by a line break, as API v2 writes."""
    from bs4 import NavigableString, Tag  # loaded by text() already

    parts: list[str] = []
    for child in node.children:
        if isinstance(child, NavigableString):
            if child.strip():
                parts.append(_escape(str(child)).strip())
        elif not isinstance(child, Tag):
            continue
        elif child.name in ("ul", "ol"):
            parts.append(_list(child, depth))
        elif child.name == "br":
            continue
        else:
            parts.append(_blocks(child, depth) if child.find(["p", "ul", "ol"]) else
                         _escape(child.get_text()).strip())
    return "\n\n".join(p for p in parts if p)


def _list(node: Tag, depth: int) -> str:
    lines = []
    for number, item in enumerate(node.find_all("li", recursive=False), start=1):
        marker = f"{number}. " if node.name == "ol" else "* "
        body = _blocks(item, depth + 1).replace("\n\n", "\n")
        lines.append("  " * depth + marker + body.lstrip())
    return "\n".join(lines)


def _escape(value: str) -> str:
    return ESCAPED.sub(r"\\\1", value)


UNRENDERED = ("resultsSection", "annotationSection", "documentSection", "derivedSection")
UNTRACKED = ("derivedSection",)  # what a version stored before the snapshot kept it lacks


def filled(old: dict[str, Any], new: dict[str, Any], lacks: tuple[str, ...]) -> dict[str, Any]:
    """An older version made comparable with a newer one: the sections it could not record
    (a version loaded from the history has protocolSection and hasResults only: UNRENDERED;
    one stored before the snapshot kept the results' review cycle: UNTRACKED) are taken from
    the newer version, so their absence is no change (hasResults still tells when results
    were posted)."""
    return {**{k: new[k] for k in lacks if k in new and k not in old}, **old}


def same_text(old: str, new: str) -> bool:
    """The same words in the same order, whatever the markdown form: escapes, list markers
    and line breaks aside (how two renderings of one text may differ)."""
    return _words(old) == _words(new)


def _words(value: str) -> list[str]:
    return BACKSLASH.sub(r"\1", LIST_MARKER.sub(" ", value)).split()
