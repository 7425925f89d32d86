"""Errors at the edge of the GUI: plain messages for known failures, a report dialog for the rest.

The engine raises typed exceptions (``PlaybookError``, ``SettingsError``, ``SpeechModelError``...) whose
text is already a plain Russian line; ``user_message`` turns any exception into such a line. An
unexpected exception (a bug) goes through ``sys.excepthook``/``threading.excepthook`` to a report dialog
with the traceback to copy; the app keeps running.
"""

from __future__ import annotations

import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.app.i18n import tr


def known_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is meant for the user (imported lazily: engine modules)."""
    from assist.audio.errors import AudioError
    from assist.transcript import TranscriptError
    from assist.vosk_models import SpeechModelError
    from knowledge.embeddings import EmbeddingModelError
    from knowledge.playbook import PlaybookError
    from knowledge.settings import SettingsError
    from knowledge.store import IndexError_
    from sync.crm import CardError
    from sync.errors import SyncError

    return (AudioError, TranscriptError, SpeechModelError, EmbeddingModelError, PlaybookError, SettingsError,
            IndexError_, SyncError, CardError)


def user_message(exc: BaseException) -> str:
    """One plain line for the user; a bug becomes a generic line (its details go to the report)."""
    if isinstance(exc, known_errors()):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return tr("Ошибка ввода-вывода") + f"{where}: {exc.strerror or exc}"
    return tr("Непредвиденная ошибка: {name}").format(name=type(exc).__name__)


def is_expected(exc: BaseException) -> bool:
    return isinstance(exc, (*known_errors(), OSError))


def show_error(parent: QWidget | None, message: str) -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, tr("Суфлёр — ошибка"), message, QMessageBox.StandardButton.Ok,
                      parent)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()


def format_report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> str:
    from desktop.app.version import describe

    lines = traceback.format_exception(exc_type, exc, tb)
    return f"{describe()}\n\n{''.join(lines)}"


class ReportDialog(QDialog):
    """An unexpected error: what happened in one line, the copyable report below."""

    def __init__(self, summary: str, report: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Суфлёр — отчёт об ошибке"))
        self.setObjectName("reportDialog")
        layout = QVBoxLayout(self)
        intro = QLabel(tr("Что-то пошло не так, но приложение продолжает работать. Скопируйте отчёт и "
                          "отправьте его администратору."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        head = QLabel(summary)
        head.setWordWrap(True)
        head.setProperty("content", True)
        head.setStyleSheet("font-weight: 600;")
        layout.addWidget(head)
        self.text = QPlainTextEdit(report)
        self.text.setReadOnly(True)
        self.text.setProperty("content", True)
        self.text.setMinimumSize(520, 220)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox()
        copy = QPushButton(tr("Скопировать отчёт"))
        copy.clicked.connect(self.copy)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        close = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        close.setText(tr("Закрыть"))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())


class ExceptionRouter(QObject):
    """Receives exceptions from any thread and shows them on the GUI thread."""

    raised = Signal(str, str)  # summary, report

    def __init__(self) -> None:
        super().__init__()
        self.raised.connect(self._show)
        self.dialogs: list[ReportDialog] = []
        self.reports: list[str] = []  # kept for the tests and the "last error" menu entry

    def handle(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        report = format_report(exc_type, exc, tb)
        sys.stderr.write(report)
        self.raised.emit(user_message(exc), report)

    def _show(self, summary: str, report: str) -> None:
        self.reports.append(report)
        if len([d for d in self.dialogs if d.isVisible()]) >= 3:  # an error storm: one window per error is enough
            return
        dialog = ReportDialog(summary, report)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: self.dialogs.remove(dialog) if dialog in self.dialogs else None)
        self.dialogs.append(dialog)
        dialog.show()


def install_excepthook() -> ExceptionRouter:
    router = ExceptionRouter()
    sys.excepthook = router.handle

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            router.handle(args.exc_type, args.exc_value, args.exc_traceback)

    threading.excepthook = thread_hook
    return router
