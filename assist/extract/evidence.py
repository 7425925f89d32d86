"""A field's value with the utterance it came from and how sure the extractor is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Found:
    value: Any
    utterance: int  # 0-based utterance index of the transcript
    text: str  # that utterance's words
    confidence: float

    def evidence(self) -> dict[str, Any]:
        return {"utterance": self.utterance, "text": self.text, "confidence": round(self.confidence, 2)}
