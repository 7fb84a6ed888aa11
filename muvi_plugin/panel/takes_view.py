"""The takes list: audition (QtMultimedia), rename, delete and export buttons over a `TakeStore`."""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from muvi_plugin.panel.takes import Take, TakeStore

_ID = Qt.ItemDataRole.UserRole
_NAME = Qt.ItemDataRole.UserRole + 1  # the bare name (the display text is the whole summary line)


class _NameDelegate(QStyledItemDelegate):
    """Edits a take's name, not its summary line (QListWidgetItem shares Display and Edit roles)."""

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:
        editor.setText(index.data(_NAME))  # type: ignore[attr-defined]  # the default editor: QLineEdit

    def setModelData(
        self,
        editor: QWidget,
        model: QAbstractItemModel,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        model.setData(index, editor.text(), _NAME)  # type: ignore[attr-defined]


class TakesView(QGroupBox):
    """Lists the store's takes; double-click or F2 renames in place. The buttons emit requests that the
    panel carries out (it owns the player and the export dialogs).

    Signals:
        playRequested(take_id), exportAudioRequested(take_id), exportVideoRequested(take_id).
    """

    playRequested = Signal(str)
    exportAudioRequested = Signal(str)
    exportVideoRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Takes", parent)
        self.store: TakeStore | None = None
        self.list = QListWidget()
        self.list.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.list.setAlternatingRowColors(True)
        self.list.setSpacing(2)
        self.list.setMinimumHeight(60)
        self.list.setItemDelegate(_NameDelegate(self.list))
        self.list.itemChanged.connect(self._renamed)
        self.list.currentItemChanged.connect(lambda *_: self._update_buttons())

        self.play = QPushButton("Play")
        self.rename = QPushButton("Rename")
        self.delete = QPushButton("Delete")
        self.export_audio = QPushButton("Export audio…")
        self.export_video = QPushButton("Export video…")
        self.play.setToolTip("Play or stop the selected take (Space)")
        self.export_audio.setToolTip("Save the take as WAV or FLAC (Ctrl+E)")
        self.export_video.setToolTip("Save a copy of the video with this take as its sound")
        self.play.clicked.connect(lambda: self._request(self.playRequested))
        self.rename.clicked.connect(self.start_rename)
        self.delete.clicked.connect(self.delete_current)
        self.export_audio.clicked.connect(lambda: self._request(self.exportAudioRequested))
        self.export_video.clicked.connect(lambda: self._request(self.exportVideoRequested))

        # Two rows of buttons keep the panel narrow enough to dock inside an editor.
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        for row in ((self.play, self.rename, self.delete), (self.export_audio, self.export_video)):
            buttons = QHBoxLayout()
            for button in row:
                buttons.addWidget(button)
            buttons.addStretch(1)
            layout.addLayout(buttons)
        self._update_buttons()

    def set_store(self, store: TakeStore | None) -> None:
        self.store = store
        self.list.clear()
        for take in store.takes if store is not None else []:
            self._append(take)
        self._update_buttons()

    def add(self, take: Take) -> None:
        """Show a take the panel just stored, and select it."""
        self.list.setCurrentItem(self._append(take))

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(_ID)

    def start_rename(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.list.editItem(item)

    def delete_current(self) -> None:
        item = self.list.currentItem()
        if item is None or self.store is None:
            return
        self.store.delete(item.data(_ID))
        self.list.takeItem(self.list.row(item))
        self._update_buttons()

    def set_playing(self, playing: bool) -> None:
        self.play.setText("Stop" if playing else "Play")

    def _append(self, take: Take) -> QListWidgetItem:
        item = QListWidgetItem()
        item.setData(_ID, take.id)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
        self._show(item, take)
        self.list.addItem(item)
        return item

    def _show(self, item: QListWidgetItem, take: Take) -> None:
        # Blocked: only the user's edits should reach `_renamed`.
        self.list.blockSignals(True)
        item.setData(Qt.ItemDataRole.DisplayRole, take.summary())
        item.setData(_NAME, take.name)
        levels = f"\n{take.levels()}" if take.levels() else ""
        item.setToolTip(f"bundle {take.bundle_id}\nmade {take.created}{levels}")
        self.list.blockSignals(False)

    def _renamed(self, item: QListWidgetItem) -> None:
        if self.store is None:
            return
        take_id = item.data(_ID)
        self.store.rename(take_id, str(item.data(_NAME)))
        self._show(item, self.store.get(take_id))

    def _request(self, signal: SignalInstance) -> None:
        take_id = self.current_id()
        if take_id is not None:
            signal.emit(take_id)

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        for button in (self.play, self.rename, self.delete, self.export_audio, self.export_video):
            button.setEnabled(has)
