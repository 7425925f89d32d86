"""First run: a short wizard — welcome, devices (picked and tested right here, with live meters), the
speech model (downloaded or imported right here), a demo call.

It opens by itself when ``sufler`` starts on an empty profile (no settings.toml yet). Every page can
be skipped; finishing saves the chosen devices and model, skipping saves the defaults, so it does not
come back either way.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget, QWizard, QWizardPage

from desktop.app.i18n import tr
from desktop.app.prefs import Prefs


def is_first_run(prefs: Prefs) -> bool:
    from knowledge.settings import settings_path

    return not settings_path().exists() and not prefs.first_run_done


def _page(title: str, text: str) -> tuple[QWizardPage, QVBoxLayout]:
    page = QWizardPage()
    page.setTitle(title)
    layout = QVBoxLayout(page)
    label = QLabel(text)
    label.setWordWrap(True)
    layout.addWidget(label)
    return page, layout


class FirstRunWizard(QWizard):
    demo = Signal()

    def __init__(self, prefs: Prefs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from desktop.app.settings_dialog import DevicesPage, SpeechModelsPage
        from knowledge.settings import load_settings

        self.prefs = prefs
        self.settings = load_settings()
        self.setWindowTitle(tr("Суфлёр — первый запуск"))
        self.setObjectName("firstRunWizard")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setButtonText(QWizard.WizardButton.NextButton, tr("Далее"))
        self.setButtonText(QWizard.WizardButton.BackButton, tr("Назад"))
        self.setButtonText(QWizard.WizardButton.FinishButton, tr("Готово"))
        self.setButtonText(QWizard.WizardButton.CancelButton, tr("Пропустить"))

        page, _ = _page(tr("Добро пожаловать"), tr(
            "Суфлёр слушает звонок в наушниках, подсказывает ответ из плейбука компании, пока клиент ещё "
            "говорит, и после звонка заполняет карточку CRM. Звук и расшифровки не покидают этот компьютер."))
        self.addPage(page)

        page, layout = _page(tr("Устройства"), tr(
            "Микрофон — это вы, звук звонка — клиент. Выберите их и проверьте: полоски уровня должны двигаться."))
        self.devices = DevicesPage(self.settings)
        layout.addWidget(self.devices, 1)
        self.addPage(page)

        page, layout = _page(tr("Модель распознавания речи"), tr(
            "Для русской речи нужна модель vosk (около 45 МБ). Её можно скачать или установить из папки или "
            "zip-архива без интернета."))
        self.speech = SpeechModelsPage(self.settings)
        layout.addWidget(self.speech, 1)
        self.addPage(page)

        page, layout = _page(tr("Демо-звонок"), tr(
            "Посмотрите, как это выглядит: демо-звонок пройдёт на боковой панели с подсказками и чек-листом."))
        demo = QPushButton(tr("Показать демо-звонок"))
        demo.clicked.connect(self.demo.emit)
        layout.addWidget(demo)
        layout.addStretch(1)
        self.addPage(page)
        self.finished.connect(self._done)
        self.resize(720, 520)

    def _done(self, result: int) -> None:
        from knowledge.settings import save_settings, settings_path

        self.devices.stop_test()
        self.prefs.first_run_done = True
        if result == QWizard.DialogCode.Accepted.value:
            self.devices.apply(self.settings)  # the model was set on the page itself
            save_settings(self.settings)
        elif not settings_path().exists():
            from knowledge.settings import load_settings

            save_settings(load_settings())
