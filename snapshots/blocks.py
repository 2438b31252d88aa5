"""The website's HTML paragraphs and lists back to API v2's markdown-like text (see
snapshots.internal). Apart because BeautifulSoup takes 80 ms to import, and only a
version loaded from the registry's history has HTML to read."""

from __future__ import annotations

from bs4 import BeautifulSoup, NavigableString, Tag

from snapshots import internal


def blocks(value: str) -> str:
    return _blocks(BeautifulSoup(value, "html.parser"))


def _blocks(node: Tag, depth: int = 0) -> str:
    """Paragraphs apart by a blank line, list items by a line break, as API v2 writes."""
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
    return internal.ESCAPED.sub(r"\\\1", value)
