"""Generated blocks: the parts of a card body hub-publish owns, delimited so author text is never lost.

A generated card body is author-owned text (the title, section headings, anything an author adds)
around *generated blocks*::

    <!-- hub-publish:begin evaluation sha256:0123456789abcdef -->

    ## Evaluation
    ...

    <!-- hub-publish:end evaluation -->

The begin marker records a short sha256 of the block's content as generated, so a later push can
tell an untouched block (regenerated from the new model) from one an author edited (kept, and
reported as a conflict: a warning in Python, one line on the command line). Text outside the
blocks always stays as the author left it. HTML comments render as nothing on the Hub, so the
markers are invisible on the page.

Rules of `merge_bodies` (the push and ``hub-publish card FOLDER``):

* a block whose content still hashes to its recorded sha -> replaced by the newly generated one;
* an edited block -> kept as the author wrote it, and named in the conflicts (to own it for good,
  delete its two marker lines; ``--overwrite-card`` replaces the whole card instead);
* a block the new card does not generate (e.g. a ``card_sections`` section not passed this time)
  -> kept;
* a block the author deleted stays deleted, except ``section:*`` blocks (``card_sections``) passed
  with this push, which are added before the citation.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

SECTION_PREFIX = "section:"
_NAME = r"[A-Za-z0-9_.:-]+"
_BLOCK = re.compile(
    rf"^<!-- hub-publish:begin (?P<name>{_NAME})(?: sha256:(?P<sha>[0-9a-f]{{16}}))? -->[ \t]*\n"
    rf"(?P<body>.*?)^<!-- hub-publish:end (?P=name) -->[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")

PLACEHOLDER_NAMESPACE = "your-name"  # usage snippets' namespace when the repo is not known yet


@dataclass(frozen=True)
class Block:
    """One generated block of a card body."""

    name: str
    recorded_sha: str | None  # the sha of the content as generated (None: no sha recorded)
    content: str  # stripped of surrounding blank lines
    start: int
    end: int

    @property
    def edited(self) -> bool:
        """Whether the content differs from what hub-publish generated."""
        return self.recorded_sha != content_sha(self.content)


def content_sha(content: str) -> str:
    """Short sha256 (16 hex digits) of a block's content, insensitive to line endings and outer blank lines."""
    normalized = content.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:16]


def parse(text: str) -> list[Block]:
    """The generated blocks of a card body (or of a whole README), in order."""
    text = text.replace("\r\n", "\n")
    return [
        Block(m["name"], m["sha"], m["body"].strip("\n").rstrip(), m.start(), m.end())
        for m in _BLOCK.finditer(text)
    ]


def render(name: str, content: str) -> str:
    """A block with its markers, its sha recorded for ``content``."""
    content = content.replace("\r\n", "\n").strip("\n").rstrip()
    head = f"<!-- hub-publish:begin {name} sha256:{content_sha(content)} -->"
    tail = f"<!-- hub-publish:end {name} -->"
    return f"{head}\n{tail}" if not content else f"{head}\n\n{content}\n\n{tail}"


def stamp(text: str) -> str:
    """Record the sha of every block's current content (a freshly generated card owns all its blocks)."""
    return _rewrite(text.replace("\r\n", "\n"), lambda block: render(block.name, block.content))


def map_unedited(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to the content of every unedited block (re-stamped); edited blocks are left alone."""
    return _rewrite(text, lambda block: block if block.edited else render(block.name, fn(block.content)))


def conflicts(text: str) -> list[str]:
    """Names of the blocks whose content an author edited."""
    return [block.name for block in parse(text) if block.edited]


def merge_bodies(existing: str, generated: str) -> tuple[str, list[str]]:
    """Regenerate the blocks of ``existing`` from ``generated``, keeping every author edit (module rules).

    Args:
        existing: The published (or local) body, possibly edited by its author.
        generated: The newly generated body.

    Returns:
        The merged body and the names of the edited blocks that were kept (conflicts).
    """
    existing = existing.replace("\r\n", "\n")
    new = {block.name: block for block in parse(generated)}
    seen: set[str] = set()
    kept: list[str] = []

    def merge(block: Block) -> str | Block:
        seen.add(block.name)
        fresh = new.get(block.name)
        if fresh is None:
            return block
        if block.edited and block.content != fresh.content:
            kept.append(block.name)
            return block
        return render(fresh.name, fresh.content)

    text = _rewrite(existing, merge)
    for name, fresh in new.items():
        if name in seen or not name.startswith(SECTION_PREFIX):
            continue
        title = _section_title(generated, name) or name[len(SECTION_PREFIX):]
        text = _insert_before_citation(text, f"## {title}\n\n{render(name, fresh.content)}\n")
    return text, kept


def apply_sections(text: str, sections: Mapping[str, str]) -> str:
    """Fill or replace named sections with author-given Markdown; never a second heading of the same name.

    ``{title: markdown}``: a heading ``title`` (any level, case-insensitive) that opens a generated
    block has that block's content replaced (heading kept); a heading followed by a block has the
    block filled; a heading in plain text has its section's text replaced by a block; otherwise a
    new ``## title`` section is added before the citation.

    Args:
        text: A card (body or whole README) as rendered from its template.
        sections: ``{title: markdown}``.

    Returns:
        The card with the sections in place (blocks not yet stamped).
    """
    for title, markdown in sections.items():
        markdown = str(markdown).strip()
        heading = _find_heading(text, title)
        if heading is None:
            name = section_block_name(title)
            text = _insert_before_citation(text, f"## {title.strip()}\n\n{render(name, markdown)}\n")
            continue
        start, end, level, line = heading
        blocks = parse(text)
        inside = next((b for b in blocks if b.start < start < b.end), None)
        if inside is not None:  # the heading is generated: replace the whole block, heading kept
            text = text[: inside.start] + render(inside.name, f"{line}\n\n{markdown}") + text[inside.end :]
            continue
        section_end = _section_end(text, end, level)
        following = next((b for b in blocks if b.start >= end and b.start < section_end), None)
        if following is not None and not text[end : following.start].strip():
            text = text[: following.start] + render(following.name, markdown) + text[following.end :]
        else:
            text = text[:end] + "\n\n" + render(section_block_name(title), markdown) + "\n\n" + text[section_end:].lstrip("\n")
    return text


def section_block_name(title: str) -> str:
    """The block name of a ``card_sections`` section: ``section:`` + a slug of its title."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.strip().lower()).strip("-") or "section"
    return SECTION_PREFIX + slug


# ----------------------------------------------------------------------------- helpers


def _rewrite(text: str, fn: Callable[[Block], "str | Block"]) -> str:
    out, pos = [], 0
    for block in parse(text):
        out.append(text[pos : block.start])
        result = fn(block)
        out.append(text[block.start : block.end] if isinstance(result, Block) else result)
        pos = block.end
    out.append(text[pos:])
    return "".join(out)


def _headings(text: str) -> list[tuple[int, int, int, str]]:
    """``(start, end, level, line)`` of every ATX heading outside fenced code."""
    found, fence, pos = [], None, 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        opening = _FENCE.match(line)
        if opening:
            marker = opening.group(1)[0]
            fence = None if fence == marker else (fence or marker)
            continue
        if fence is None:
            m = re.match(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", line)
            if m:
                found.append((start, start + len(line), len(m.group(1)), line))
    return found


def _norm(title: str) -> str:
    return re.sub(r"\s+", " ", title.strip().strip("#").strip()).lower()


def _find_heading(text: str, title: str) -> tuple[int, int, int, str] | None:
    for start, end, level, line in _headings(text):
        if _norm(line.lstrip(" #")) == _norm(title):
            return start, end, level, line
    return None


def _section_end(text: str, after: int, level: int) -> int:
    for start, _, other, _ in _headings(text):
        if start > after and other <= level:
            return start
    return len(text)


def _section_title(text: str, name: str) -> str | None:
    m = re.search(rf"^##\s+(.+?)\s*\n\s*\n<!-- hub-publish:begin {re.escape(name)}[ -]", text, re.MULTILINE)
    return m.group(1) if m else None


def _insert_before_citation(text: str, section: str) -> str:
    heading = _find_heading(text, "Citation")
    if heading is None:
        return text.rstrip("\n") + "\n\n" + section
    return text[: heading[0]] + section + "\n" + text[heading[0] :]
