"""Cards into searchable chunks.

Each card gives:
- a *head* chunk: title, the whole "say this" line, tags, the labels of the categories it handles
  (and, for case studies, the client and result; for scripts, the checklist lines);
- one *trigger* chunk per trigger phrase: short client phrasings match short utterances best;
- *body* chunks: the Markdown body split at headings and paragraphs, never inside a sentence,
  about ``BODY_WORDS`` words each.
The "say this" line always travels whole inside the head chunk, so a hint can show it verbatim.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from knowledge.cards import ANY, Card
from knowledge.taxonomy import Taxonomy

BODY_WORDS = 90
_SENTENCE_END = re.compile(r"(?<=[.!?…»])\s+(?=[«\"(A-ZА-ЯЁ0-9-])")
_MARKDOWN = re.compile(r"[*_`>#|]+")


@dataclass(frozen=True)
class Chunk:
    id: int
    card_id: str
    part: str  # "head", "trigger" or "body"
    text: str  # what the dense model reads
    sparse_text: str  # what the lemma index reads (weighted by repetition for the head)
    snippet: str

    def payload(self, card: Card, all_pipelines: list[str]) -> dict[str, object]:
        return {
            "card_id": card.id,
            "kind": card.kind,
            "part": self.part,
            "title": card.title,
            "handles": card.handles,
            "pipelines": card.pipelines or all_pipelines,
            "industries": [ANY] if card.fits_every_industry() else card.industries,
            "snippet": self.snippet,
        }


def chunk_id(card_id: str, part: str, n: int) -> int:
    return zlib.crc32(f"{card_id}\x00{part}\x00{n}".encode()) & 0x7FFFFFFF


def plain(markdown: str) -> str:
    text = re.sub(r"^\s*\|?[\s:|-]*-{3,}[\s:|-]*$", " ", markdown, flags=re.M)  # table rule lines
    text = _MARKDOWN.sub(" ", text)
    text = re.sub(r"^\s*(?:\d+\.|-)\s+", "", text, flags=re.M)
    return re.sub(r"\s+", " ", text).strip()


def _sentences(paragraph: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(paragraph) if s.strip()]


def body_pieces(body: str, max_words: int = BODY_WORDS) -> list[str]:
    """Split the body into pieces at headings/paragraphs; long paragraphs at sentence ends."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n|\n(?=#)", body) if b.strip()]
    pieces: list[str] = []
    current: list[str] = []
    words = 0
    heading = ""

    def flush() -> None:
        nonlocal current, words
        if current:
            pieces.append(" ".join(current))
        current, words = [], 0

    for block in blocks:
        text = plain(block)
        if not text:
            continue
        if block.lstrip().startswith("#"):
            flush()
            heading = text
            current, words = [heading], len(heading.split())
            continue
        for sentence in _sentences(text):
            n = len(sentence.split())
            if words + n > max_words and words > len(heading.split()):
                flush()
                if heading:
                    current, words = [heading], len(heading.split())
            current.append(sentence)
            words += n
    flush()
    return [p for p in pieces if p.strip()]


def card_chunks(card: Card, taxonomy: Taxonomy) -> list[Chunk]:
    labels = [taxonomy.label(c) for c in card.handles]
    head_parts = [card.title, card.say, *labels, *card.tags]
    if card.kind == "case":
        head_parts += [card.client, card.result]
    head_text = ". ".join(p for p in head_parts if p)
    # The title, labels and tags describe the card best: they count twice for the lemma index.
    sparse_head = " ".join([head_text, card.title, *labels, *card.tags])
    chunks = [Chunk(chunk_id(card.id, "head", 0), card.id, "head", head_text, sparse_head,
                    card.say or card.result or card.title)]
    for i, trigger in enumerate(card.triggers):
        chunks.append(Chunk(chunk_id(card.id, "trigger", i), card.id, "trigger", trigger, trigger,
                            card.say or trigger))
    if card.kind == "script":
        for i, (_step, line) in enumerate(card.checklist.items()):
            if line:
                chunks.append(Chunk(chunk_id(card.id, "step", i), card.id, "body",
                                    f"{card.title}. {line}", line, line))
    for i, piece in enumerate(body_pieces(card.body)):
        chunks.append(Chunk(chunk_id(card.id, "body", i), card.id, "body", f"{card.title}. {piece}", piece,
                            piece))
    return chunks
