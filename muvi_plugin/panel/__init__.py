"""The standalone PySide6 panel (`muvi panel`), also embeddable as `MuviPanel`.

The only part of muvi_plugin that imports PySide6 (the `panel` extra); nothing else imports this package.
"""

from muvi_plugin.panel.panel import MuviPanel

__all__ = ["MuviPanel"]
