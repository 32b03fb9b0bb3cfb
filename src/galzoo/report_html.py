"""The report as one self-contained HTML page: every figure inlined as a data URI, the style inline, no script,
and a Content-Security-Policy that lets the page load nothing else, so it opens offline and can be mailed.

The Markdown is rendered with markdown-it (CommonMark + tables, raw HTML off, so a metric that looks like a tag
stays text); headings get GitHub's anchors, so the table of contents works in both.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token

from galzoo.errors import DataError

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""Nothing but inline images and the inline style: a figure that slipped in as a URL would show as broken."""
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml"}
_EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1b1f23; }
main { max-width: 1200px; margin: 0 auto; padding: 1rem 2rem 4rem; line-height: 1.45; }
h1 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; margin-top: 2.5rem; }
table { border-collapse: collapse; display: block; overflow-x: auto; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; white-space: nowrap; }
tr:nth-child(even) td { background: #f6f8fa; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 3px; font-size: .9em; }
img { display: block; max-width: 100%; height: auto; margin: .8rem 0 .2rem; }
"""


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def heading_slugs(markdown: str) -> list[tuple[int, str, str]]:
    """(level, Markdown text, anchor) of every heading, in order; anchors as GitHub makes them from the plain
    text (lower case, punctuation dropped, spaces to hyphens, ``-1``, ``-2`` ... on repeats)."""
    tokens = _parser().parse(markdown)
    return [(int(tokens[i].tag[1]), tokens[i + 1].content, slug) for i, slug in _slugs(tokens)]


def _slugs(tokens: list[Token]) -> list[tuple[int, str]]:
    """(index of the heading_open token, anchor) of every heading."""
    seen: dict[str, int] = {}
    found = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        text = "".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline"))
        slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.append((i, f"{slug}-{count}" if count else slug))
    return found


def markdown_to_html(markdown: str, *, base_dir: Path, title: str) -> str:
    """The page: images read from files relative to ``base_dir`` and inlined; links to anything outside the page
    kept as text (their target in a tooltip), so the page references nothing external."""
    parser = _parser()
    tokens = parser.parse(markdown)
    for i, slug in _slugs(tokens):
        tokens[i].attrSet("id", slug)
    for token in tokens:
        external: list[bool] = []
        for child in token.children or []:
            if child.type == "image":
                child.attrSet("src", _data_uri(str(child.attrGet("src")), base_dir))
            elif child.type == "link_open":
                href = str(child.attrGet("href") or "")
                external.append(not href.startswith("#"))
                if external[-1]:
                    child.tag, child.attrs = "span", {"title": href}
            elif child.type == "link_close" and external.pop():
                child.tag = "span"
    body = parser.renderer.render(tokens, parser.options, {})
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n"
            "</body>\n</html>\n")


def _data_uri(src: str, base_dir: Path) -> str:
    if _EXTERNAL.match(src):
        raise DataError(f"figure {src}: the report inlines local files only, so that it opens offline")
    path = base_dir / unquote(src)  # markdown-it percent-encodes spaces and non-ASCII in link targets
    mime = IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise DataError(f"figure {path}: unknown image type {path.suffix!r}; expected one of "
                        f"{', '.join(IMAGE_TYPES)}")
    if not path.is_file():
        raise DataError(f"figure {path}: file not found")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def write_html(markdown: str, path: Path, *, base_dir: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown_to_html(markdown, base_dir=base_dir, title=title))
