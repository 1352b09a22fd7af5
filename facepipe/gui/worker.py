"""A QObject that lives in a QThread of its own: the base of the preview, export and people workers.

Requests reach it as queued signals (its slots run in its thread); its answers are signals that
Qt queues back to the UI thread. `cancel_event` is for long jobs to poll.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread

__all__ = ["ThreadWorker"]


class ThreadWorker(QObject):
    def __init__(self, name: str) -> None:
        super().__init__()
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.moveToThread(self._thread)
        self.cancel_event = threading.Event()
        self._thread.start()

    def stop(self) -> None:
        """Ask a running job to stop, let the thread finish it, end the thread (before the app quits)."""
        self.cancel_event.set()
        self._thread.quit()
        self._thread.wait()
