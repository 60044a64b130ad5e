"""Help ▸ Keyboard shortcuts: a sheet built from the window's live actions and shortcuts.

Why generated: a hand-written list drifts the day a key changes; this one reads
the ``QAction``s of the menus and the review panel's ``QShortcut``s (their
``whatsThis`` says what they do), so it shows what the keys really do now.
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QMenuBar, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

NATIVE = QKeySequence.SequenceFormat.NativeText


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, action text, keys) for every menu action with a shortcut, in menu order."""
    rows = []
    for menu_action in bar.actions():
        menu = menu_action.menu()
        if menu is None:
            continue
        for action in menu.actions():
            keys = [k.toString(NATIVE) for k in action.shortcuts() if not k.isEmpty()]
            if keys:
                rows.append((_plain(menu_action.text()), _plain(action.text()), ", ".join(keys)))
    return rows


def panel_shortcuts(panel: QWidget) -> list[tuple[str, str]]:
    """(what it does, keys) for a panel's ``QShortcut``s, keys of one meaning joined."""
    keys: dict[str, list[str]] = {}
    for sc in panel.findChildren(QShortcut):
        if sc.isEnabled() and sc.whatsThis():
            keys.setdefault(sc.whatsThis(), []).append(sc.key().toString(NATIVE))
    return [(what, ", ".join(k)) for what, k in keys.items()]


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


class ShortcutSheet(QDialog):
    """A non-modal window listing the shortcuts; rebuilt each time it is shown."""

    def __init__(self, bar: QMenuBar, review: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.bar, self.review = bar, review
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setColumnWidth(0, 300)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree)
        self.resize(520, 560)

    def rebuild(self) -> None:
        self.tree.clear()
        groups: dict[str, QTreeWidgetItem] = {}
        for menu, text, keys in menu_shortcuts(self.bar):
            if menu not in groups:
                groups[menu] = QTreeWidgetItem(self.tree, [menu])
            QTreeWidgetItem(groups[menu], [text, keys])
        review = QTreeWidgetItem(self.tree, ["Review mode"])
        for what, keys in panel_shortcuts(self.review):
            QTreeWidgetItem(review, [what, keys])
        self.tree.expandAll()

    def showEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        self.rebuild()
        super().showEvent(event)  # type: ignore[arg-type]
