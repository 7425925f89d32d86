"""Search, wrap-up, settings, single instance, errors and translations, through real windows (offscreen)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QApplication

from desktop.app.engine import Engine
from desktop.app.i18n import set_language

ROOT = Path(__file__).resolve().parent.parent
CYRILLIC = re.compile("[А-Яа-яЁё]")


@pytest.fixture(autouse=True)
def gui_thread_guard(qapp: Any) -> Iterator[None]:
    """The app's rule for threads, in the tests too: Python's GC runs on the GUI thread only, and at the
    end every background job is joined, everything posted is delivered, everything deleted is deleted."""
    from PySide6.QtCore import QThreadPool

    from desktop.app.bridge import GuiThreadCollector, drain_gui_events, wait_for_background

    collector = GuiThreadCollector()
    yield
    drain_gui_events()
    assert wait_for_background(60.0), "a background job still runs after the test"
    QThreadPool.globalInstance().waitForDone()
    drain_gui_events()
    collector.stop()  # what the test left in cycles is collected here, on the GUI thread
    collector.deleteLater()
    drain_gui_events(1)


@pytest.fixture
def lemma_env(monkeypatch: pytest.MonkeyPatch, sufler_home: Path) -> Iterator[Path]:
    monkeypatch.setenv("SUFLER_EMBEDDING__MODEL", "none")
    set_language("ru")
    yield sufler_home
    set_language("ru")


@pytest.fixture
def engine(qtbot: Any, lemma_env: Path) -> Iterator[Engine]:
    eng = Engine()
    eng.load()
    qtbot.waitUntil(lambda: eng.is_ready, timeout=180_000)
    yield eng
    assert eng.close(60.0), "an engine thread still runs"


def test_search_returns_and_renders_a_card(qtbot: Any, engine: Engine) -> None:
    from desktop.app.prefs import Prefs
    from desktop.app.search_window import SearchWindow

    window = SearchWindow(engine, Prefs())
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle().startswith("Суфлёр")
    assert window.list.count() == len(engine.cards)  # empty query: the whole playbook to browse
    with qtbot.waitSignal(window.searched, timeout=10_000, check_params_cb=lambda q, n: q == "клиент говорит дорого"):
        for ch in "клиент говорит дорого":  # typed letter by letter (keyClicks is ASCII only)
            window.query.insert(ch)
    assert window.list.count() > 0
    first = window.results[0]
    assert first.kind == "objection" and "price_too_high" in first.handles
    assert engine.cards[first.card_id].title in window.view.toPlainText()  # rendered from Markdown
    assert window.view.document().toMarkdown().strip()
    with qtbot.waitSignal(window.searched, timeout=10_000):
        window.kind.setCurrentIndex(window.kind.findData("case"))
    assert window.results and all(r.kind == "case" for r in window.results)
    with qtbot.waitSignal(window.searched, timeout=10_000):
        window.query.setText("абырвалг")
    assert window.list.count() == 0 and "Ничего не нашлось" in window.status.text()


def _card() -> dict[str, Any]:
    return {"contact_name": "Сергей Ильин", "company": None, "phone": "+79172034567", "email": None,
            "city": "Казань", "budget_rub": 800000, "next_contact_date": "2026-11-19", "pipeline": "project",
            "lead_source": "inbound", "urgency": "medium", "decision_maker": True, "outcome": "next_step_agreed",
            "refusal_reason": None, "objections": ["price_too_high"], "summary": "Офис, кондиционеры",
            "compliance": 0.82, "talk_ratio_manager": 0.55,
            "evidence": {"city": {"utterance": 3, "text": "у нас офис в казани", "confidence": 0.95},
                         "budget_rub": {"utterance": 8, "text": "восемьсот тысяч", "confidence": 0.4}}}


def test_wrapup_edits_and_confirms_into_the_outbox(qtbot: Any, lemma_env: Path) -> None:
    from PySide6.QtWidgets import QComboBox, QLineEdit

    from desktop.app import outbox
    from desktop.app.wrapup_dialog import WrapUpDialog

    dialog = WrapUpDialog("call-1", _card(), "amocrm")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windowTitle().startswith("Суфлёр")
    city = dialog.editors["city"]
    assert isinstance(city, QLineEdit) and city.text() == "Казань"
    assert "у нас офис в казани" in city.toolTip()  # evidence on hover
    assert dialog.low == {"budget_rub"} and dialog.editors["budget_rub"].objectName() == "lowConfidence"
    company = dialog.editors["company"]
    assert isinstance(company, QLineEdit)
    company.insert("Климат Офис")
    budget = dialog.editors["budget_rub"]
    assert isinstance(budget, QLineEdit)
    budget.setText("600000")
    urgency = dialog.editors["urgency"]
    assert isinstance(urgency, QComboBox)
    urgency.setCurrentIndex(urgency.findData("high"))
    with qtbot.waitSignal(dialog.confirmed, timeout=10_000):
        dialog.send_button.click()
    stored = outbox.confirmed_card("call-1")
    assert stored is not None
    status, card = stored
    assert status == "confirmed"
    assert card["company"] == "Климат Офис" and card["budget_rub"] == 600000 and card["urgency"] == "high"
    assert card["city"] == "Казань" and card["decision_maker"] is True
    qtbot.waitUntil(lambda: "в очереди: 1" in dialog.status.text(), timeout=10_000)
    assert outbox.status().queued == 1


def test_wrapup_refuses_a_bad_date_with_a_plain_message(qtbot: Any, lemma_env: Path) -> None:
    from PySide6.QtWidgets import QLineEdit

    from desktop.app import outbox
    from desktop.app.wrapup_dialog import WrapUpDialog

    dialog = WrapUpDialog("call-2", _card())
    qtbot.addWidget(dialog)
    when = dialog.editors["next_contact_date"]
    assert isinstance(when, QLineEdit)
    when.setText("в пятницу")
    dialog.send_button.click()
    assert "ГГГГ-ММ-ДД" in dialog.status.text()
    assert outbox.confirmed_card("call-2") is None


def test_settings_persist(qtbot: Any, lemma_env: Path) -> None:
    from PySide6.QtGui import QKeySequence

    from desktop.app.prefs import Prefs
    from desktop.app.settings_dialog import SettingsDialog
    from knowledge.settings import load_settings

    dialog = SettingsDialog(Prefs())
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windowTitle().startswith("Суфлёр")
    assert not dialog.tabs.isTabVisible(dialog.admin_index)
    dialog.language.setCurrentIndex(dialog.language.findData("en"))
    dialog.retention.setValue(14)
    dialog.shortcut.setKeySequence(QKeySequence("Ctrl+Alt+K"))
    dialog.channel.setText("/mnt/share/playbook")
    dialog.embedding.setCurrentIndex(dialog.embedding.findData("none"))
    dialog.admin.setChecked(True)
    assert dialog.tabs.isTabVisible(dialog.admin_index)
    dialog.crm_kind.setCurrentIndex(dialog.crm_kind.findData("bitrix24"))
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        dialog.save()
    settings = load_settings()
    assert settings.language == "en" and settings.distribution.channel == "/mnt/share/playbook"
    prefs = Prefs()
    assert prefs.retention_days == 14 and prefs.shortcut == "Ctrl+Alt+K" and prefs.admin
    assert prefs.crm_kind == "bitrix24"
    again = SettingsDialog(Prefs())
    qtbot.addWidget(again)
    assert again.retention.value() == 14 and again.language.currentData() == "en"
    assert again.tabs.isTabVisible(again.admin_index)


def test_admin_validate_runs_off_the_gui_thread(qtbot: Any, lemma_env: Path) -> None:
    from desktop.app.prefs import Prefs
    from desktop.app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(Prefs())
    qtbot.addWidget(dialog)
    dialog.admin_validate()
    qtbot.waitUntil(lambda: "Проверено карточек" in dialog.admin_log.toPlainText(), timeout=20_000)
    assert "ошибок: 0" in dialog.admin_log.toPlainText()


def test_second_instance_hands_over_to_the_first(qtbot: Any, lemma_env: Path) -> None:
    from desktop.app.single_instance import InstanceServer

    server = InstanceServer()
    assert server.listen()
    got: list[str] = []
    server.request.connect(got.append)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-m", "desktop.app", "--request", "search"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30_000)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""
    assert got == ["search"]
    server.close()


def test_unexpected_exception_opens_a_report_and_the_app_goes_on(qtbot: Any, lemma_env: Path) -> None:
    from desktop.app.errors import ExceptionRouter

    router = ExceptionRouter()
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError as exc:
        router.handle(type(exc), exc, exc.__traceback__)
    qtbot.waitUntil(lambda: bool(router.dialogs), timeout=5000)
    dialog = router.dialogs[0]
    assert dialog.isVisible() and dialog.windowTitle().startswith("Суфлёр")
    assert "ZeroDivisionError: boom" in dialog.text.toPlainText()
    dialog.copy()
    clip = QApplication.clipboard().text()
    assert "Traceback" in clip
    dialog.close()


def test_first_run_wizard_appears_on_an_empty_profile(qtbot: Any, lemma_env: Path) -> None:
    from desktop.app.first_run import is_first_run
    from desktop.app.prefs import Prefs
    from desktop.app.tray import TrayApp
    from knowledge.settings import settings_path

    assert is_first_run(Prefs())
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    hub = TrayApp(app, Engine())
    hub.start()
    qtbot.waitUntil(lambda: hub.wizard is not None and hub.wizard.isVisible(), timeout=5000)
    assert hub.wizard.windowTitle().startswith("Суфлёр")
    hub.wizard.reject()
    assert settings_path().exists() and not is_first_run(Prefs())
    qtbot.waitUntil(lambda: hub.engine.is_ready or hub.engine.state == "problem", timeout=180_000)
    assert hub.shutdown(60.0)


def test_first_run_wizard_picks_devices_and_the_speech_model_itself(qtbot: Any, lemma_env: Path) -> None:
    from PySide6.QtWidgets import QWizard

    from desktop.app.first_run import FirstRunWizard, is_first_run
    from desktop.app.prefs import Prefs
    from desktop.app.settings_dialog import DevicesPage, SpeechModelsPage
    from knowledge.settings import load_settings

    wizard = FirstRunWizard(Prefs())
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    assert isinstance(wizard.currentPage().findChild(DevicesPage), DevicesPage)  # embedded, not a dialog
    devices = wizard.devices
    assert devices.isVisible() and devices.manager_meter.isVisible() and devices.client_meter.isVisible()
    qtbot.waitUntil(lambda: devices.client_device.findData("none") >= 0, timeout=20_000)  # listed off-thread
    devices.client_device.setCurrentIndex(devices.client_device.findData("none"))
    wizard.next()
    speech = wizard.speech
    assert isinstance(wizard.currentPage().findChild(SpeechModelsPage), SpeechModelsPage) and speech.isVisible()
    assert speech.models.count() >= 1
    chosen = str(speech.models.item(speech.models.count() - 1).data(256))
    speech.models.setCurrentRow(speech.models.count() - 1)
    speech.use_model()
    assert speech.models.item(speech.models.count() - 1).text().startswith("● ")
    wizard.next()
    assert wizard.currentPage().title() == "Демо-звонок"
    wizard.done(QWizard.DialogCode.Accepted.value)
    saved = load_settings()
    assert saved.speech.client_device == "none" and saved.speech.model == chosen
    assert not is_first_run(Prefs())


# --- translations -----------------------------------------------------------------------------------------

def _visible_texts(widget: Any) -> Iterator[tuple[str, str]]:
    """(where, text) for every interface string of a window, skipping playbook/user content."""
    from PySide6.QtWidgets import (
        QAbstractButton,
        QComboBox,
        QGroupBox,
        QLabel,
        QLineEdit,
        QMenu,
        QTabWidget,
        QWidget,
        QWizard,
    )

    def walk(w: QWidget) -> Iterator[tuple[str, str]]:
        if w.property("content"):
            return
        name = f"{type(w).__name__}#{w.objectName()}"
        yield name + ".windowTitle", w.windowTitle() if w.isWindow() else ""
        yield name + ".toolTip", w.toolTip()
        yield name + ".accessibleName", w.accessibleName()
        if isinstance(w, (QLabel, QAbstractButton)):
            yield name + ".text", w.text()
        if isinstance(w, QLineEdit):
            yield name + ".placeholder", w.placeholderText()
        if isinstance(w, QGroupBox):
            yield name + ".title", w.title()
        if isinstance(w, QComboBox):
            for i in range(w.count()):
                yield f"{name}.item{i}", w.itemText(i)
        if isinstance(w, QTabWidget):
            for i in range(w.count()):
                yield f"{name}.tab{i}", w.tabText(i)
        if isinstance(w, QWizard):
            for page_id in w.pageIds():
                page = w.page(page_id)
                yield f"{name}.page{page_id}", page.title()
        if isinstance(w, QMenu):
            for action in w.actions():
                yield name + ".action", action.text()
                if action.menu() is not None:
                    yield from walk(action.menu())
        for child in w.findChildren(QWidget):
            if child.parentWidget() is w:
                yield from walk(child)

    yield from walk(widget)


def test_english_mode_leaves_no_russian_in_any_window(qtbot: Any, engine: Engine) -> None:
    from assist.events import CallStarted, ChecklistTick, HintShown, Levels, UtteranceFinal
    from desktop.app.errors import ReportDialog
    from desktop.app.first_run import FirstRunWizard
    from desktop.app.prefs import Prefs
    from desktop.app.search_window import SearchWindow
    from desktop.app.settings_dialog import SettingsDialog
    from desktop.app.tray import TrayApp
    from desktop.app.wrapup_dialog import WrapUpDialog

    set_language("en")
    prefs = Prefs()
    prefs.admin = True
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    hub = TrayApp(app, engine)
    panel = hub.panel
    panel.show()
    for event in (CallStarted(0.0, "c", "", "live"), Levels(1.0, -20.0, -100.0),
                  UtteranceFinal(2.0, 0, "client", 1.0, 2.0, "это дорого"),
                  HintShown(2.1, 1, "price_too_high", "objection-price-value", "Дорого", "Скажите так", "case-x",
                            0.9, 0, "это дорого", 1.0, 20.0),
                  ChecklistTick(3.0, "greeting", 0, "добрый день")):
        panel.handle(event)
    hub.rebuild_menu()
    windows = [panel, hub.menu, SearchWindow(engine, prefs), SettingsDialog(prefs), WrapUpDialog("c", _card()),
               FirstRunWizard(prefs), ReportDialog("x", "y")]
    quoted = re.compile(r"«[^»]*»|\"[^\"]*\"")  # the client's or manager's own words, quoted: call content
    bad = [(where, text) for window in windows for where, text in _visible_texts(window)
           if CYRILLIC.search(quoted.sub("", text))]
    title = panel.windowTitle()
    for window in windows[2:]:
        window.deleteLater()
    assert hub.shutdown(60.0)
    assert not bad, f"untranslated: {bad[:10]}"
    assert title == "Sufler — call panel"


def test_every_tr_literal_has_an_english_entry() -> None:
    import ast

    from desktop.app.i18n import dynamic_sources, missing

    literals: list[str] = []
    for path in sorted((ROOT / "desktop" / "app").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tr" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    literals.append(arg.value)
    assert len(literals) > 150
    assert missing(literals + dynamic_sources()) == []
