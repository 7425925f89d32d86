"""Interface language: Russian source strings, English from a Python catalogue (``i18n_en.py``).

Why a Python dict and not Qt's .ts/.qm: the catalogue is plain, reviewable, type-checked Python; it
needs no lupdate/lrelease step in the build; the same lookup serves strings built outside Qt (taxonomy
labels, engine messages); and a test can check it both ways (every ``tr("...")`` literal in the code has
an entry, and no Cyrillic is left in any visible widget in English mode).

The language is read from settings once at start; changing it in the settings takes effect on restart.
"""

from __future__ import annotations

from desktop.app.i18n_en import EN

_language = "ru"


def set_language(language: str) -> None:
    global _language
    _language = language if language in ("ru", "en") else "ru"


def language() -> str:
    return _language


def tr(text: str) -> str:
    """The interface string in the current language (the Russian source when no translation exists)."""
    if _language == "ru":
        return text
    return str(EN.get(text, text))


def missing(texts: list[str]) -> list[str]:
    """Source strings with no English translation (for the tests)."""
    return [t for t in texts if t not in EN]


def dynamic_sources() -> list[str]:
    """Strings passed to ``tr`` through a variable: taxonomy labels, card kinds, the app's own tables."""
    from desktop.app.panel import STEP_SHORT
    from desktop.app.settings_dialog import CRM_KINDS
    from desktop.app.tray import STATE_TEXT
    from desktop.app.wrapup_dialog import FIELD_LABELS, LEAD_SOURCES, REFUSALS, URGENCY
    from knowledge.cards import KINDS
    from knowledge.taxonomy import default_taxonomy

    tax = default_taxonomy()
    texts = [*KINDS.values(), *(c.label for c in tax.categories.values()), *tax.checklist_steps.values(),
             *tax.pipelines.values(), *tax.outcomes.values(), *STEP_SHORT.values(), *CRM_KINDS.values(),
             *STATE_TEXT.values(), *FIELD_LABELS.values(), *LEAD_SOURCES.values(), *REFUSALS.values(),
             *URGENCY.values(), "Да", "Нет"]
    return [t for t in texts if any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in t)]
