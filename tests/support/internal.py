"""Render an API v2 record the way the registry's internal endpoints render a study, to
test that snapshots.internal brings it back: markdown fields as HTML paragraphs and lists
(the eligibility and brief summary of the recorded answer), other text with the HTML
entities the website escapes (`&#x2F;`, `&#x27;`, `&lt;`)."""

from __future__ import annotations

import html
import re
from typing import Any

from snapshots.internal import MARKDOWN_FIELDS

ITEM = re.compile(r"^(\s*)(?:[*+-]|\d+\\?\.)\s+(.*)$")
UNESCAPE = re.compile(r"\\([<>\[\]&^*.])")


def entities(value: str) -> str:
    return html.escape(value, quote=True).replace("/", "&#x2F;").replace("&#x27;", "&#x27;")


def markdown_html(value: str) -> str:
    """Paragraphs to <p>, "* " and "1. " lines to list items, escapes to entities."""
    out = []
    for block in value.split("\n\n"):
        lines = block.split("\n")
        items = [ITEM.match(line) for line in lines]
        if all(items):
            tag = "ol" if re.match(r"\s*\d", lines[0]) else "ul"
            out.append(f"<{tag}>" + "".join(f"<li>{entities(_plain(m.group(2)))}</li>"
                                            for m in items if m) + f"</{tag}>")
        else:
            out.append(f"<p>{entities(_plain(block))}</p>")
    return "".join(out)


def _plain(value: str) -> str:
    return UNESCAPE.sub(r"\1", value)


def render_internal(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: render_internal(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [render_internal(v, key) for v in value]
    if isinstance(value, str):
        if key in ("briefSummary", "eligibilityCriteria"):
            return markdown_html(value)
        return entities(_plain(value) if key in MARKDOWN_FIELDS else value)
    return value
