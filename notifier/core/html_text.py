"""Plain text from the HTML of a helpdesk comment (Frappe Helpdesk stores comments as HTML).

Apart from :mod:`notifier.core.text`: ``html.parser`` brings ``html.entities`` (a table of
2,000+ named entities) that only the Frappe adapter needs, while the tray app imports
``core.text`` all day (benchmarks/README.md, "Idle memory with 100,000 cached").
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Final

# Elements after which the text continues on a new line (HTML from a rich-text editor).
_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "tr", "h1", "h2", "h3", "h4", "h5",
     "h6", "hr", "table"}
)  # fmt: skip
_SKIPPED_TAGS: Final = frozenset({"script", "style", "head", "template"})
_BLANK_LINES = re.compile(r"\n\s*\n+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            self.parts.append(f"[{alt or 'image'}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment (a helpdesk comment): tags dropped, entities decoded,
    blocks on their own lines, runs of blank lines collapsed. A mention such as
    ``<span class="mention" data-label="Bea">@Bea</span>`` reads ``@Bea``.

    The result is text to show as text; nothing in it is markup any more.
    """
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    lines = (" ".join(line.split()) for line in "".join(extractor.parts).split("\n"))
    return _BLANK_LINES.sub("\n", "\n".join(lines)).strip()
