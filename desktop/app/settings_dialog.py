"""Settings: devices (live meters, test), speech models, search model, playbook channel, CRM, general.

Engine settings are written to settings.toml (``knowledge.settings.save_settings``), desktop-only ones
to desktop.ini (``Prefs``). The admin tab (validate, build, publish the playbook) is shown in admin
mode. Every slow action (device list, test capture, download, import, build, publish, CRM test) runs
on a worker thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.app.bridge import run_in_background
from desktop.app.errors import user_message
from desktop.app.i18n import tr
from desktop.app.prefs import Prefs
from desktop.app.widgets import LevelMeter

TEST_SECONDS = 5.0
CRM_KINDS = {"amocrm": "amoCRM / Kommo", "bitrix24": "Bitrix24", "file": "Файл (выгрузка для другой CRM)"}


class _Progress(QObject):
    changed = Signal(int, int)

class DevicesPage(QWidget):
    """Microphone and call-audio devices with live level meters and a test (settings tab, first-run page)."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._test_source: Any = None
        self._test_until = 0.0
        self._meter_timer = QTimer(self)
        self._meter_timer.setInterval(50)
        self._meter_timer.timeout.connect(self._poll_meters)
        self._build()
        self.refresh_devices()

    def _build(self) -> None:
        form = QFormLayout(self)
        self.manager_device = QComboBox()
        self.client_device = QComboBox()
        for combo in (self.manager_device, self.client_device):
            combo.setProperty("content", True)  # device names come from the system
            combo.setMinimumWidth(320)
        form.addRow(tr("Микрофон (вы)"), self.manager_device)
        self.manager_meter = LevelMeter()
        form.addRow("", self.manager_meter)
        form.addRow(tr("Звук звонка (клиент)"), self.client_device)
        self.client_meter = LevelMeter()
        form.addRow("", self.client_meter)
        row = QHBoxLayout()
        self.test_button = QPushButton(tr("Проверить звук"))
        self.test_button.clicked.connect(self.test_devices)
        refresh = QPushButton(tr("Обновить список"))
        refresh.clicked.connect(self.refresh_devices)
        row.addWidget(self.test_button)
        row.addWidget(refresh)
        row.addStretch(1)
        form.addRow(row)
        self.device_note = QLabel(tr("Скажите что-нибудь и включите звук в звонке: полоски должны двигаться."))
        self.device_note.setWordWrap(True)
        form.addRow(self.device_note)

    def refresh_devices(self) -> None:
        def listed() -> Any:
            from assist.audio.devices import list_devices

            return list_devices()

        run_in_background(listed, self._devices_listed, lambda e: self.device_note.setText(user_message(e)),
                          name="sufler-devices")

    def _devices_listed(self, value: tuple[list[Any], list[str]]) -> None:
        found, problems = value
        for combo, current, channel in ((self.manager_device, self.settings.speech.manager_device, "manager"),
                                        (self.client_device, self.settings.speech.client_device, "client")):
            combo.clear()
            combo.addItem(tr("По умолчанию"), "")
            combo.addItem(tr("Выключен"), "none")
            for d in found:
                wanted = d.loopback if channel == "client" else (d.inputs > 0 and not d.loopback)
                if wanted:
                    combo.addItem(f"{d.name} ({d.backend})", f"{d.backend}:{d.name}")
            index = combo.findData(current)
            if index < 0 and current:
                combo.addItem(current, current)
                index = combo.count() - 1
            combo.setCurrentIndex(max(index, 0))
        if problems:
            self.device_note.setText("; ".join(problems))

    def test_devices(self) -> None:
        from assist.audio.devices import DeviceSpec
        from assist.audio.live import LiveSource

        manager = DeviceSpec.parse(str(self.manager_device.currentData() or ""), "manager")
        client = DeviceSpec.parse(str(self.client_device.currentData() or ""), "client")
        source = LiveSource(manager, client)
        self.test_button.setEnabled(False)
        self.device_note.setText(tr("Слушаю {n} с…").format(n=int(TEST_SECONDS)))

        def started(_value: Any) -> None:
            self._test_source = source
            self._test_until = time.monotonic() + TEST_SECONDS
            self._meter_timer.start()

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.device_note.setText(user_message(exc))

        run_in_background(source.start, started, failed, name="sufler-device-test")

    def _poll_meters(self) -> None:
        source = self._test_source
        if source is None:
            self._meter_timer.stop()
            return
        self.manager_meter.set_level(source.level("manager"))
        self.client_meter.set_level(source.level("client"))
        if time.monotonic() >= self._test_until:
            self.stop_test()
            problems = "; ".join(getattr(source, "failures", {}).values())
            self.device_note.setText(problems or tr("Проверка закончена."))

    def stop_test(self) -> None:
        source, self._test_source = self._test_source, None
        self._meter_timer.stop()
        self.test_button.setEnabled(True)
        if source is not None:
            run_in_background(source.stop, name="sufler-device-test-stop")

    def hideEvent(self, event: QHideEvent) -> None:  # another tab or wizard page, or closed: stop listening
        self.stop_test()
        super().hideEvent(event)

    def apply(self, settings: Any) -> None:
        """The chosen devices into the settings (saved by the caller)."""
        settings.speech.manager_device = str(self.manager_device.currentData() or "")
        settings.speech.client_device = str(self.client_device.currentData() or "")


class SpeechModelsPage(QWidget):
    """The speech model manager: the catalogue, download with progress, import (settings tab, first-run page).

    The chosen model goes into ``settings.speech.model`` (saved by the caller)."""

    def __init__(self, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._build()
        self.refresh_models()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(tr("Модели распознавания русской речи (vosk). Выбранная отмечена «●».")))
        self.models = QListWidget()
        self.models.setProperty("content", True)
        layout.addWidget(self.models, 1)
        self.download_progress = QProgressBar()
        self.download_progress.setVisible(False)
        layout.addWidget(self.download_progress)
        row = QHBoxLayout()
        self.download_button = QPushButton(tr("Скачать"))
        self.download_button.clicked.connect(self.download_model)
        use = QPushButton(tr("Использовать"))
        use.clicked.connect(self.use_model)
        imp = QPushButton(tr("Импорт из папки или zip…"))
        imp.clicked.connect(self.import_model)
        for button in (self.download_button, use, imp):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self.speech_note = QLabel()
        self.speech_note.setWordWrap(True)
        layout.addWidget(self.speech_note)

    def refresh_models(self) -> None:
        from assist.vosk_models import CATALOGUE, installed_models

        installed = {p.name for p in installed_models()}
        self.models.clear()
        for name in [*CATALOGUE, *sorted(installed - set(CATALOGUE))]:
            mark = "●" if name == self.settings.speech.model else "○"
            info = CATALOGUE.get(name)
            state = tr("установлена") if name in installed else tr("не скачана")
            size = f", {info.size_mb} MB" if info else ""
            item = QListWidgetItem(f"{mark} {name}{size} — {state}")
            item.setData(256, name)
            self.models.addItem(item)

    def _selected_model(self) -> str | None:
        item = self.models.currentItem()
        return str(item.data(256)) if item is not None else None

    def use_model(self) -> None:
        name = self._selected_model()
        if name:
            self.settings.speech.model = name
            self.refresh_models()

    def download_model(self) -> None:
        from assist.vosk_models import download_model

        name = self._selected_model()
        if not name:
            self.speech_note.setText(tr("Выберите модель в списке."))
            return
        progress = _Progress(self)
        progress.changed.connect(self._progress)
        self.download_progress.setVisible(True)
        self.download_progress.setRange(0, 0)
        self.download_button.setEnabled(False)
        self.speech_note.setText(tr("Скачиваю {name}…").format(name=name))

        def done(_folder: Any) -> None:
            self.download_button.setEnabled(True)
            self.download_progress.setVisible(False)
            self.settings.speech.model = name
            self.speech_note.setText(tr("Модель {name} установлена.").format(name=name))
            self.refresh_models()

        def failed(exc: BaseException) -> None:
            self.download_button.setEnabled(True)
            self.download_progress.setVisible(False)
            self.speech_note.setText(user_message(exc))

        run_in_background(lambda: download_model(name, progress=progress.changed.emit), done, failed,
                          name="sufler-model-download")

    def _progress(self, done: int, total: int) -> None:
        if total > 0:
            self.download_progress.setRange(0, 1000)
            self.download_progress.setValue(int(done * 1000 / total))

    def import_model(self) -> None:
        from assist.vosk_models import import_model

        path, _ = QFileDialog.getOpenFileName(self, tr("Суфлёр — модель речи"), "", "zip (*.zip)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, tr("Суфлёр — папка модели речи"))
        if not path:
            return

        def done(folder: Path) -> None:
            self.settings.speech.model = folder.name
            self.speech_note.setText(tr("Модель {name} установлена.").format(name=folder.name))
            self.refresh_models()

        run_in_background(lambda: import_model(Path(path)), done,
                          lambda e: self.speech_note.setText(user_message(e)), name="sufler-model-import")


class SettingsDialog(QDialog):
    saved = Signal()

    def __init__(self, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from knowledge.settings import load_settings

        self.prefs = prefs
        self.settings = load_settings()
        self.setWindowTitle(tr("Суфлёр — настройки"))
        self.setObjectName("settingsDialog")
        root = QVBoxLayout(self)
        self.tabs = QTabWidget()
        self.devices = DevicesPage(self.settings)
        self.speech = SpeechModelsPage(self.settings)
        self.tabs.addTab(self.devices, tr("Устройства"))
        self.tabs.addTab(self.speech, tr("Распознавание речи"))
        self.tabs.addTab(self._search_tab(), tr("Плейбук и поиск"))
        self.tabs.addTab(self._crm_tab(), tr("CRM"))
        self.tabs.addTab(self._general_tab(), tr("Общие"))
        self.admin_tab = self._admin_tab()
        self.admin_index = self.tabs.addTab(self.admin_tab, tr("Администратор"))
        self.tabs.setTabVisible(self.admin_index, prefs.admin)
        root.addWidget(self.tabs, 1)
        buttons = QHBoxLayout()
        self.message = QLabel()
        self.message.setWordWrap(True)
        buttons.addWidget(self.message, 1)
        save = QPushButton(tr("Сохранить"))
        save.setDefault(True)
        save.clicked.connect(self.save)
        cancel = QPushButton(tr("Отмена"))
        cancel.clicked.connect(self.reject)
        buttons.addWidget(save)
        buttons.addWidget(cancel)
        root.addLayout(buttons)
        self.resize(700, 520)

    # search model and playbook channel -------------------------------------------------------------------
    def _search_tab(self) -> QWidget:
        from knowledge.settings import BUILTIN_USE, NO_MODEL

        page = QWidget()
        form = QFormLayout(page)
        self.embedding = QComboBox()
        self.embedding.setEditable(True)
        self.embedding.addItem(tr("Встроенная многоязычная (рекомендуется)"), BUILTIN_USE)
        self.embedding.addItem(tr("Без модели: поиск по словам"), NO_MODEL)
        index = self.embedding.findData(self.settings.embedding.model)
        if index < 0:
            self.embedding.addItem(self.settings.embedding.model, self.settings.embedding.model)
            index = self.embedding.count() - 1
        self.embedding.setCurrentIndex(index)
        form.addRow(tr("Смысловая модель поиска"), self.embedding)
        form.addRow(QLabel(tr("Можно указать папку с моделью sentence-transformers. Индекс перестроится сам.")))
        self.channel = QLineEdit(self.settings.distribution.channel)
        self.channel.setPlaceholderText(tr("папка на общем диске или https://…"))
        form.addRow(tr("Канал обновлений плейбука"), self.channel)
        self.playbook_path = QLineEdit(self.settings.playbook.path)
        self.playbook_path.setPlaceholderText(tr("встроенный плейбук"))
        form.addRow(tr("Папка плейбука"), self.playbook_path)
        return page

    # CRM -------------------------------------------------------------------------------------------------
    def _crm_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.crm_kind = QComboBox()
        for key, label in CRM_KINDS.items():
            self.crm_kind.addItem(tr(label), key)
        self.crm_kind.setCurrentIndex(max(self.crm_kind.findData(self.prefs.crm_kind), 0))
        form.addRow(tr("CRM"), self.crm_kind)
        self.crm_url = QLineEdit(self.prefs.crm_url)
        self.crm_url.setPlaceholderText("https://company.amocrm.ru")
        form.addRow(tr("Адрес"), self.crm_url)
        self.crm_token = QLineEdit()
        self.crm_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.crm_token.setPlaceholderText(tr("хранится в системном хранилище паролей"))
        form.addRow(tr("Ключ доступа"), self.crm_token)
        row = QHBoxLayout()
        self.crm_test = QPushButton(tr("Проверить подключение"))
        self.crm_test.clicked.connect(self.test_crm)
        row.addWidget(self.crm_test)
        row.addStretch(1)
        form.addRow(row)
        self.crm_note = QLabel()
        self.crm_note.setWordWrap(True)
        form.addRow(self.crm_note)
        return page

    def test_crm(self) -> None:
        kind, url = str(self.crm_kind.currentData()), self.crm_url.text().strip()
        self.crm_test.setEnabled(False)
        self.crm_note.setText(tr("Проверяю…"))
        run_in_background(lambda: check_crm(kind, url), self._crm_checked, self._crm_failed, name="sufler-crm")

    def _crm_checked(self, text: str) -> None:
        self.crm_test.setEnabled(True)
        self.crm_note.setText(text)

    def _crm_failed(self, exc: BaseException) -> None:
        self.crm_test.setEnabled(True)
        self.crm_note.setText(user_message(exc))

    # general ---------------------------------------------------------------------------------------------
    def _general_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.language = QComboBox()
        self.language.addItem("Русский", "ru")
        self.language.addItem("English", "en")
        self.language.setProperty("content", True)  # each language in its own name
        self.language.setCurrentIndex(max(self.language.findData(self.settings.language), 0))
        form.addRow(tr("Язык (после перезапуска)"), self.language)
        self.shortcut = QKeySequenceEdit(QKeySequence(self.prefs.shortcut))
        form.addRow(tr("Начать или остановить прослушивание"), self.shortcut)
        self.retention = QSpinBox()
        self.retention.setRange(1, 3650)
        self.retention.setSuffix(tr(" дн."))
        self.retention.setValue(self.prefs.retention_days)
        form.addRow(tr("Хранить расшифровки звонков"), self.retention)
        self.admin = QCheckBox(tr("Режим администратора (проверка и публикация плейбука)"))
        self.admin.setChecked(self.prefs.admin)
        self.admin.toggled.connect(lambda on: self.tabs.setTabVisible(self.admin_index, on))
        form.addRow(self.admin)
        return page

    # admin -----------------------------------------------------------------------------------------------
    def _admin_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        form = QFormLayout()
        self.admin_folder = QLineEdit(str(self.settings.playbook_dir()))
        self.admin_folder.setProperty("content", True)
        form.addRow(tr("Папка плейбука"), self.admin_folder)
        self.admin_key = QLineEdit()
        self.admin_key.setPlaceholderText(tr("папка с signing-key.pem"))
        form.addRow(tr("Ключ подписи"), self.admin_key)
        self.admin_pass = QLineEdit()
        self.admin_pass.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow(tr("Пароль ключа"), self.admin_pass)
        layout.addLayout(form)
        row = QHBoxLayout()
        for text, slot in ((tr("Проверить"), self.admin_validate), (tr("Построить индекс"), self.admin_build),
                           (tr("Опубликовать"), self.admin_publish)):
            button = QPushButton(text)
            button.clicked.connect(slot)
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self.admin_log = QPlainTextEdit()
        self.admin_log.setReadOnly(True)
        self.admin_log.setProperty("content", True)
        layout.addWidget(self.admin_log, 1)
        return page

    def _admin_run(self, fn: Any) -> None:
        self.admin_log.setPlainText(tr("Работаю…"))
        run_in_background(fn, lambda text: self.admin_log.setPlainText(str(text)),
                          lambda e: self.admin_log.setPlainText(user_message(e)), name="sufler-admin")

    def admin_validate(self) -> None:
        folder = Path(self.admin_folder.text().strip())
        self._admin_run(lambda: validate_text(folder))

    def admin_build(self) -> None:
        folder = Path(self.admin_folder.text().strip())
        self._admin_run(lambda: build_text(folder))

    def admin_publish(self) -> None:
        folder = Path(self.admin_folder.text().strip())
        key, passphrase, channel = Path(self.admin_key.text().strip()), self.admin_pass.text(), self.channel.text()
        self._admin_run(lambda: publish_text(folder, key, passphrase, channel.strip()))

    # save ------------------------------------------------------------------------------------------------
    def save(self) -> None:
        from knowledge.settings import save_settings

        s = self.settings
        self.devices.apply(s)
        text = self.embedding.currentText().strip()
        data = self.embedding.currentData()
        s.embedding.model = str(data) if data and self.embedding.itemText(self.embedding.currentIndex()) == text \
            else text
        s.distribution.channel = self.channel.text().strip()
        s.playbook.path = self.playbook_path.text().strip()
        s.language = str(self.language.currentData())
        try:
            save_settings(s)
        except OSError as exc:
            self.message.setText(user_message(exc))
            return
        self.prefs.shortcut = self.shortcut.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
        self.prefs.retention_days = self.retention.value()
        self.prefs.admin = self.admin.isChecked()
        self.prefs.crm_kind = str(self.crm_kind.currentData())
        self.prefs.crm_url = self.crm_url.text().strip()
        token = self.crm_token.text()
        if token:
            store_crm_token(self.prefs.crm_kind, token)
        self.saved.emit()
        self.accept()

    def done(self, result: int) -> None:
        self.devices.stop_test()
        super().done(result)


def check_crm(kind: str, url: str) -> str:
    """A plain answer whether the CRM answers (uses sync.crm's own test when present)."""
    import importlib

    try:
        crm = importlib.import_module("sync.crm")
    except ImportError:
        crm = None
    if crm is not None and hasattr(crm, "test_connection"):
        return str(crm.test_connection(kind, url))
    if kind == "file":
        return tr("Карточки будут выгружаться в файл: подключение не нужно.")
    if not url.startswith(("http://", "https://")):
        return tr("Укажите адрес CRM, начиная с https://")
    import httpx

    try:
        response = httpx.get(url, timeout=5.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        return tr("CRM не отвечает: {reason}").format(reason=type(exc).__name__)
    return tr("CRM отвечает (код {code}). Ключ доступа проверится при первой отправке.").format(
        code=response.status_code)


def store_crm_token(kind: str, token: str) -> None:
    import importlib

    try:
        crm = importlib.import_module("sync.crm")
    except ImportError:
        return
    if hasattr(crm, "store_token"):
        crm.store_token(kind, token)


def validate_text(folder: Path) -> str:
    from knowledge.playbook import load_playbook
    from knowledge.validate import validate_playbook

    problems = validate_playbook(folder)
    n_err = sum(1 for p in problems if p.severity == "error")
    lines = [str(p) for p in problems]
    lines.append(tr("Проверено карточек: {n}; ошибок: {e}; предупреждений: {w}").format(
        n=len(load_playbook(folder).cards), e=n_err, w=len(problems) - n_err))
    return "\n".join(lines)


def build_text(folder: Path) -> str:
    from knowledge.engine import KnowledgeBase
    from knowledge.settings import load_settings

    kb = KnowledgeBase(load_settings(), folder)
    try:
        meta = kb.build()
    finally:
        kb.close()
    return tr("Индекс построен: {c} карточек, {k} фрагментов за {s} с").format(
        c=meta.cards, k=meta.chunks, s=f"{meta.build_seconds:.1f}")


def publish_text(folder: Path, key_dir: Path, passphrase: str, channel: str) -> str:
    from knowledge.settings import load_settings
    from sync.keys import load_private
    from sync.publish import publish

    if not channel:
        return tr("Укажите канал обновлений на вкладке «Плейбук и поиск».")
    settings = load_settings()
    published = publish(settings, folder, channel, load_private(key_dir, passphrase))
    return tr("Опубликовано: {what}").format(what=published)
