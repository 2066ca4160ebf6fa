"""System-wide defaults from IT (notifier/store/site_settings.py) merged with each user's file.

* the site's values are the defaults, the user's own values win, locked keys are the site's;
* saving writes only the user's own choices (never a locked key, nothing equal to the site's
  value), so a later change of an unlocked site default reaches the user;
* a site file that cannot be used is ignored whole with an error naming it and the reason,
  and is never moved or changed; unknown names are ignored with a warning;
* the file is found through NOTIFIER_SITE_CONFIG or platformdirs' site config folders
  ($XDG_CONFIG_DIRS on Linux);
* end to end: ``notifier tail`` follows the locked server URL of the site file, whatever the
  user's file says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from helpdesk import Helpdesk

from notifier.core.settings import BadgeStyle, Settings
from notifier.core.wire import QuietRange
from notifier.store.settings_file import load_settings, save_settings
from notifier.store.site_settings import (
    NO_SITE_SETTINGS,
    SETTING_NAMES,
    current_site_settings,
    load_site_settings,
    locked_settings,
    site_settings_file,
)

SITE = {
    "version": 1,
    "server_url": "https://helpdesk.example.com/",
    "ca_bundle": "/etc/ssl/certs/company-ca.pem",
    "proxy": "http://proxy.example.com:3128",
    "quiet_hours": [{"day": 4, "start": "18:00", "end": "08:00"}],
    "sound": False,
    "locked": ["server_url", "ca_bundle", "proxy"],
}
WEEKEND = (QuietRange(4, "18:00", "08:00"),)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def site_file(tmp_path: Path) -> Path:
    return write_json(tmp_path / "etc" / "settings.json", SITE)


def test_without_a_user_file_the_site_values_are_the_settings(site_file: Path) -> None:
    site = load_site_settings(site_file)
    settings = load_settings(site_file.parent / "missing.json", site)
    assert settings.server_url == "https://helpdesk.example.com"  # normalised like the user's
    assert settings.ca_bundle == "/etc/ssl/certs/company-ca.pem"
    assert settings.proxy == "http://proxy.example.com:3128"
    assert settings.quiet_hours == WEEKEND
    assert settings.sound is False
    assert settings.badge_style == Settings().badge_style  # not in the site file: built-in


def test_the_user_overrides_what_is_not_locked_and_nothing_that_is(
    site_file: Path, tmp_path: Path
) -> None:
    user = write_json(
        tmp_path / "user.json",
        {
            "version": 1,
            "server_url": "https://elsewhere.example.org",
            "proxy": "socks5://mine.example.org:1080",
            "quiet_hours": [],
            "sound": True,
        },
    )
    settings = load_settings(user, load_site_settings(site_file))
    assert settings.server_url == "https://helpdesk.example.com"  # locked
    assert settings.proxy == "http://proxy.example.com:3128"  # locked
    assert settings.quiet_hours == ()  # the user's own choice: no quiet hours at all
    assert settings.sound is True


def test_a_locked_key_the_site_does_not_set_keeps_the_built_in_default(tmp_path: Path) -> None:
    site = load_site_settings(write_json(tmp_path / "site.json", {"locked": ["start_at_login"]}))
    user = write_json(tmp_path / "user.json", {"version": 1, "start_at_login": True})
    assert load_settings(user, site).start_at_login is False
    assert site.locked == frozenset({"start_at_login"})


def test_saving_writes_only_the_users_own_choices(site_file: Path, tmp_path: Path) -> None:
    site = load_site_settings(site_file)
    user = tmp_path / "user.json"
    settings = load_settings(user, site)
    # As if the dialog had let a locked value through: it is not written, and not read back.
    changed = settings.replace(
        sound=True, proxy="http://sneaky.example.org:8080", badge_style=BadgeStyle.DOT
    )
    save_settings(user, changed, site)
    written = json.loads(user.read_text(encoding="utf-8"))
    assert written["sound"] is True
    assert written["badge_style"] == "dot"
    assert not {"server_url", "ca_bundle", "proxy", "quiet_hours"} & set(written)
    reread = load_settings(user, site)
    assert reread.proxy == "http://proxy.example.com:3128"
    assert (reread.sound, reread.badge_style) == (True, BadgeStyle.DOT)


def test_a_later_change_of_an_unlocked_default_reaches_users_who_kept_it(
    site_file: Path, tmp_path: Path
) -> None:
    first = load_site_settings(site_file)
    kept, chose = tmp_path / "kept.json", tmp_path / "chose.json"
    save_settings(kept, load_settings(kept, first).replace(badge_style=BadgeStyle.DOT), first)
    save_settings(chose, load_settings(chose, first).replace(quiet_hours=()), first)
    # IT moves the quiet hours to Sunday.
    sunday = [{"day": 6, "start": "18:00", "end": "08:00"}]
    second = load_site_settings(write_json(site_file, {**SITE, "quiet_hours": sunday}))
    assert load_settings(kept, second).quiet_hours == (QuietRange(6, "18:00", "08:00"),)
    assert load_settings(chose, second).quiet_hours == ()


def test_an_old_site_file_is_migrated_like_a_users(tmp_path: Path) -> None:
    # Version 0 called the helpdesk URL "server" and had no version key.
    site = load_site_settings(
        write_json(tmp_path / "site.json", {"server": "https://old.example.com", "locked": []})
    )
    assert site.values == {"server_url": "https://old.example.com"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "Expecting property name"),
        (b"\xff\xfe{}", "codec can't decode"),
        (b"[1, 2]", "does not hold a JSON object"),
        (json.dumps({**SITE, "locked": "server_url"}).encode(), "locked: must be a list"),
        (json.dumps({**SITE, "locked": [1]}).encode(), "locked: must be a list"),
        (json.dumps({**SITE, "server_url": "ftp://x"}).encode(), "server_url: must start"),
        (json.dumps({**SITE, "sound": "loud"}).encode(), "sound: must be of type bool"),
        (json.dumps({**SITE, "quiet_hours": [{"day": 9}]}).encode(), "quiet_hours"),
        (json.dumps({**SITE, "version": 99}).encode(), "newer than this app understands"),
    ],
)
def test_an_unusable_site_file_is_ignored_whole_and_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, reason: str
) -> None:
    site_path = tmp_path / "site.json"
    site_path.write_bytes(content)
    user = write_json(tmp_path / "user.json", {"version": 1, "proxy": "http://mine.example:1"})
    with caplog.at_level(logging.ERROR, logger="notifier.store.site_settings"):
        site = load_site_settings(site_path)
    assert site == NO_SITE_SETTINGS
    (record,) = caplog.records
    assert str(site_path) in record.getMessage() and reason in record.getMessage()
    assert "ignoring the whole file" in record.getMessage()
    assert site_path.read_bytes() == content  # the admin's file: never moved or changed
    assert load_settings(user, site).proxy == "http://mine.example:1"


def test_a_site_file_that_cannot_be_read_is_ignored_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "settings.json"
    folder.mkdir()  # a folder where the file should be: unreadable as a file, even for root
    with caplog.at_level(logging.ERROR, logger="notifier.store.site_settings"):
        assert load_site_settings(folder) == NO_SITE_SETTINGS
    assert "cannot be read (Is a directory)" in caplog.text


def test_unknown_names_are_ignored_with_a_warning_and_the_rest_applies(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_json(
        tmp_path / "site.json",
        {"server_url": "https://a.example", "colour": "red", "locked": ["server_url", "nope"]},
    )
    with caplog.at_level(logging.WARNING, logger="notifier.store.site_settings"):
        site = load_site_settings(path)
    assert site.values == {"server_url": "https://a.example"}
    assert site.locked == frozenset({"server_url"})
    assert "ignoring unknown names colour, nope" in caplog.text
    # An unknown key of the site file never lands in the user's file.
    user = tmp_path / "user.json"
    save_settings(user, load_settings(user, site), site)
    assert "colour" not in json.loads(user.read_text(encoding="utf-8"))


def test_every_setting_can_be_set_and_locked() -> None:
    assert set(Settings().to_json()) - {"version"} == SETTING_NAMES


def test_the_file_is_named_by_the_environment_or_found_in_the_site_config_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_file: Path
) -> None:
    assert site_settings_file({"NOTIFIER_SITE_CONFIG": str(site_file)}) == site_file
    assert site_settings_file({"NOTIFIER_SITE_CONFIG": ""}) is None
    assert locked_settings({"NOTIFIER_SITE_CONFIG": str(site_file)}) == {
        "server_url",
        "ca_bundle",
        "proxy",
    }
    if not sys.platform.startswith("linux"):
        return
    # On Linux, the first folder of $XDG_CONFIG_DIRS holding notifier/settings.json.
    first, second = tmp_path / "first", tmp_path / "second"
    write_json(second / "notifier" / "settings.json", {"locked": ["sound"]})
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"{first}{os.pathsep}{second}")
    monkeypatch.delenv("NOTIFIER_SITE_CONFIG", raising=False)
    assert site_settings_file() == second / "notifier" / "settings.json"
    assert current_site_settings().locked == {"sound"}
    write_json(first / "notifier" / "settings.json", {"locked": ["proxy"]})
    assert locked_settings() == {"proxy"}
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "none"))
    assert site_settings_file() is None


def test_load_and_save_use_the_site_file_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_file: Path
) -> None:
    monkeypatch.setenv("NOTIFIER_SITE_CONFIG", str(site_file))
    user = tmp_path / "user.json"
    settings = load_settings(user)
    assert settings.server_url == "https://helpdesk.example.com"
    save_settings(user, settings.replace(sound=True))
    written = json.loads(user.read_text(encoding="utf-8"))
    assert written["sound"] is True
    assert not {"server_url", "ca_bundle", "proxy", "quiet_hours"} & set(written)


@pytest.mark.asyncio
async def test_tail_follows_the_locked_server_of_the_site_file(
    helpdesk: Helpdesk, tmp_path: Path
) -> None:
    alice = helpdesk.add_agent("alice", "Alice Adams")
    bob = helpdesk.actions(helpdesk.add_agent("bob", "Bob Brown"))
    ticket = bob.create_ticket("Printer on fire", "it is on fire")
    bob.assign(ticket["id"], "alice")
    home = tmp_path / "home"
    # The user's file points elsewhere (nothing listens on port 9); the site locks the URL.
    write_json(
        home / "config" / "settings.json", {"version": 1, "server_url": "http://127.0.0.1:9"}
    )
    site = write_json(
        tmp_path / "site.json", {"server_url": helpdesk.url, "locked": ["server_url"]}
    )
    env = {**os.environ, "NOTIFIER_TOKEN": alice, "NOTIFIER_HOME": str(home)}
    env["NOTIFIER_SITE_CONFIG"] = str(site)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "notifier",
        "tail",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            line = await process.stdout.readline()
        assert line, "tail exited early"
        item = json.loads(line)
        assert item["notification"]["ticket"]["subject"] == "Printer on fire"
    finally:
        process.terminate()
        async with asyncio.timeout(20):
            await process.communicate()


def test_the_example_shipped_for_it_admins_applies_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The Debian package installs it as /usr/share/doc/notifier/examples/site-settings.json:
    # an admin copies it to /etc/xdg/notifier/settings.json and edits the addresses.
    from datetime import UTC, datetime

    from notifier.core.quiet_hours import QuietSchedule

    example = Path(__file__).parent.parent / "packaging/debian/site-settings.example.json"
    with caplog.at_level(logging.WARNING):
        site = load_site_settings(example)
        settings = load_settings(tmp_path / "user.json", site)
    assert caplog.records == []  # no unknown name, nothing ignored
    assert settings.server_url == "https://helpdesk.example.com"
    assert settings.proxy == "http://proxy.example.com:3128"
    assert site.locked == {"server_url", "ca_bundle", "proxy"}
    # Its quiet hours, as packaging/README.md describes them: weeknights 18:00 to 08:00 and
    # the weekend from Friday 18:00 to Monday 08:00 (it used to end on Monday at midnight).
    office = QuietSchedule(settings.quiet_hours, UTC)

    def quiet(day: int, hour: int, minute: int = 0) -> bool:  # 2026-11-23 is a Monday
        return office.is_quiet(datetime(2026, 11, 23 + day, hour, minute, tzinfo=UTC))

    for day in range(5):
        assert [quiet(day, 17, 59), quiet(day, 18), quiet(day, 23)] == [False, True, True]
        assert [quiet(day, 7, 59), quiet(day, 8), quiet(day, 12)] == [True, False, False]
    assert all(quiet(day, hour) for day in (5, 6) for hour in (0, 8, 12, 23))
    assert [quiet(7, 7, 59), quiet(7, 8)] == [True, False]  # the next Monday
