"""PyInstaller runtime hook for Windows: runs in the bundle before the app's own code.

Windows attributes a toast to the AppUserModelID (AUMID) of the process that shows it, and
groups the taskbar button and the Start menu shortcut by it too. desktop-notifier shows the
app's toasts under the app name it is given (``notifier.ui.toasts.APP_NAME``), registering it
under ``HKCU\\Software\\Classes\\AppUserModelId\\<name>`` with a display name and an icon;
this hook gives the process the same AUMID, so toasts, the taskbar button and the shortcut
(which the installer creates with the same System.AppUserModel.ID) are one app, named
"Helpdesk notifier" rather than "Python".
"""

from __future__ import annotations

import sys
from typing import Any

APP_USER_MODEL_ID = "Helpdesk notifier"  # = notifier.ui.toasts.APP_NAME (a test checks)


def set_app_user_model_id(shell32: Any = None) -> None:
    if shell32 is None:
        import ctypes

        shell32 = ctypes.windll.shell32  # type: ignore[attr-defined]
    shell32.SetCurrentProcessExplicitAppUserModelID(APP_USER_MODEL_ID)


if sys.platform == "win32":
    set_app_user_model_id()
