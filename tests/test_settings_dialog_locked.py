"""Issue 15: "A locked system default cannot be changed from the settings dialog; an unlocked
one can". The real controller and settings files (the user's and IT's site file, named by
``NOTIFIER_SITE_CONFIG``), the real dialog; no services (nothing here talks to a helpdesk).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from tray_fakes import FakeClock, FakeScheduler, RecordingUrlOpener

from notifier.app.account import AccountService
from notifier.app.controller import AppController
from notifier.core.settings import BadgeStyle, SettingsError
from notifier.core.wire import QuietRange
from notifier.store.cache import NotificationCache
from notifier.store.settings_file import load_settings
from notifier.store.site_settings import SITE_CONFIG_ENV
from notifier.ui.schedule_editor import ScheduleEditor
from notifier.ui.settings_dialog import LOCKED_TIP, SettingsDialog

SITE_SERVER = "https://helpdesk.example.com"
SITE_QUIET = QuietRange(4, "18:00", "08:00")


@pytest.fixture
def site_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "site" / "settings.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "server_url": SITE_SERVER,
                "quiet_hours": [SITE_QUIET.to_json()],
                "badge_style": "count",
                "locked": ["server_url", "quiet_hours"],
            }
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv(SITE_CONFIG_ENV, str(path))
    return path


def controller_over(tmp_path: Path, user_file: Path) -> AppController:
    clock = FakeClock()
    return AppController(
        account=AccountService(load_settings(user_file), settings_path=user_file),
        cache=NotificationCache.open(tmp_path / "cache.sqlite3"),
        clock=clock,
        scheduler=FakeScheduler(clock),
        url_opener=RecordingUrlOpener(),
    )


def test_a_locked_setting_cannot_be_changed_from_the_dialog_an_unlocked_one_can(
    qtbot: QtBot, tmp_path: Path, site_file: Path
) -> None:
    user_file = tmp_path / "user" / "settings.json"
    user_file.parent.mkdir()
    # The user's own file predates the lock: another helpdesk and no quiet hours.
    user_file.write_text(
        json.dumps({"version": 1, "server_url": "https://other.example.com", "quiet_hours": []}),
        encoding="utf-8",
    )
    controller = controller_over(tmp_path, user_file)
    assert controller.account.locked_settings() == {"server_url", "quiet_hours"}
    dialog = SettingsDialog(controller.account, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()

    # Shown as locked: the site's values, disabled, saying who set them.
    assert dialog.server_url.text() == SITE_SERVER
    assert dialog.schedule_editor.ranges() == (SITE_QUIET,)
    for widget in (dialog.server_url, dialog.schedule_editor):
        assert not widget.isEnabled()
        assert LOCKED_TIP in widget.toolTip()
    assert dialog.locked_note.isVisibleTo(dialog)
    assert dialog.badge_style.isEnabled()
    assert LOCKED_TIP not in dialog.badge_style.toolTip()

    # Even with the widgets changed behind the lock, OK keeps the site's values.
    dialog.server_url.setText("https://elsewhere.example.com")
    dialog.schedule_editor.set_ranges(())
    dialog.badge_style.setCurrentIndex(dialog.badge_style.findData(BadgeStyle.DOT))
    dialog.accept()
    assert not dialog.isVisible()

    saved = controller.account.settings()
    assert (saved.server_url, saved.quiet_hours) == (SITE_SERVER, (SITE_QUIET,))
    assert saved.badge_style is BadgeStyle.DOT
    # The user's file holds the unlocked change and no locked key; reread, the same holds.
    user_json = json.loads(user_file.read_text(encoding="utf-8"))
    assert user_json["badge_style"] == "dot"
    assert "server_url" not in user_json and "quiet_hours" not in user_json
    reread = load_settings(user_file)
    assert (reread.server_url, reread.quiet_hours) == (SITE_SERVER, (SITE_QUIET,))
    assert reread.badge_style is BadgeStyle.DOT
    controller.cache.close()


def test_an_unlocked_site_default_is_editable_and_the_change_persists(
    qtbot: QtBot, tmp_path: Path, site_file: Path
) -> None:
    user_file = tmp_path / "settings.json"
    controller = controller_over(tmp_path, user_file)
    dialog = SettingsDialog(controller.account, schedule_editor=ScheduleEditor(UTC))
    qtbot.addWidget(dialog)
    dialog.show()
    # The site's badge default is not locked: shown, editable, and the user's choice persists.
    assert dialog.badge_style.currentData() == BadgeStyle.COUNT
    assert dialog.badge_style.isEnabled()
    assert dialog.ca_bundle.isEnabled() and dialog.ca_bundle_browse.isEnabled()
    dialog.sound.setChecked(not controller.account.settings().sound)
    wanted_sound = dialog.sound.isChecked()
    dialog.accept()
    assert load_settings(user_file).sound is wanted_sound
    controller.cache.close()


def test_signing_in_to_another_helpdesk_than_the_locked_one_is_refused(
    tmp_path: Path, site_file: Path
) -> None:
    controller = controller_over(tmp_path, tmp_path / "settings.json")

    async def sign_in() -> None:
        async with asyncio.timeout(5):
            await controller.account.sign_in_token("https://elsewhere.example.com", "tok")

    with pytest.raises(SettingsError, match="IT department"):
        asyncio.run(sign_in())
    assert controller.account.settings().server_url == SITE_SERVER
    controller.cache.close()
