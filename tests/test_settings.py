"""Client settings: round trip, migrations, refusals with reasons, atomic file, broken files."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core.settings import (
    MIGRATIONS,
    SETTINGS_VERSION,
    BackendKind,
    BadgeStyle,
    LogLevel,
    Settings,
    SettingsError,
    from_json,
    migrate,
    validate_proxy,
    validate_server_url,
)
from notifier.core.wire import NotificationType, QuietRange
from notifier.store.settings_file import load_settings, save_settings

CUSTOM = Settings(
    server_url="https://helpdesk.example.com",
    backend=BackendKind.FRAPPE,
    frappe_site_name="helpdesk.example.com",
    frappe_socketio_url="https://helpdesk.example.com:9000",
    frappe_time_zone="Asia/Kolkata",
    ca_bundle="/etc/ssl/company.pem",
    proxy="socks5://proxy.example.com:1080",
    log_level=LogLevel.DEBUG,
    start_at_login=True,
    toasts_enabled=False,
    toast_types=frozenset({NotificationType.MENTION}),
    sound=False,
    summary_after_quiet=False,
    badge_style=BadgeStyle.DOT,
    quiet_hours=(QuietRange(0, "22:00", "07:00"), QuietRange(5, "00:00", "00:00")),
    paused_until=datetime(2026, 11, 26, 8, 0, tzinfo=UTC),
    burst_threshold=7,
    extra={"future_option": [1, 2, 3]},
)


# --------------------------------------------------------------------------- round trips


def test_defaults_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config" / "settings.json"
    assert load_settings(path) == Settings()  # no file yet
    save_settings(path, Settings())
    assert load_settings(path) == Settings()


def test_every_field_round_trips_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    save_settings(path, CUSTOM)
    assert load_settings(path) == CUSTOM
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == SETTINGS_VERSION
    assert data["future_option"] == [1, 2, 3]  # unknown keys survive for newer versions
    assert data["paused_until"] == "2026-11-26T08:00:00Z"


def test_paused_until_in_any_zone_comes_back_as_the_same_instant() -> None:
    berlin_morning = datetime(2026, 11, 26, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    loaded = from_json(Settings(paused_until=berlin_morning).to_json())
    assert loaded.paused_until == berlin_morning
    assert loaded.paused_until is not None and loaded.paused_until.tzinfo == UTC


HHMM = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
SETTINGS = st.builds(
    Settings,
    server_url=st.sampled_from(["", "https://helpdesk.example.com", "http://127.0.0.1:8765"]),
    backend=st.sampled_from(BackendKind),
    frappe_site_name=st.sampled_from([None, "hd.localhost", "helpdesk.example.com"]),
    frappe_socketio_url=st.sampled_from([None, "http://127.0.0.1:9000"]),
    frappe_time_zone=st.sampled_from([None, "UTC", "Europe/Berlin"]),
    ca_bundle=st.one_of(st.none(), st.text(min_size=1).filter(str.strip)),
    proxy=st.sampled_from([None, "http://proxy:3128", "socks5h://10.0.0.1:1080"]),
    log_level=st.sampled_from(LogLevel),
    start_at_login=st.booleans(),
    toasts_enabled=st.booleans(),
    toast_types=st.frozensets(st.sampled_from(NotificationType)),
    sound=st.booleans(),
    summary_after_quiet=st.booleans(),
    badge_style=st.sampled_from(BadgeStyle),
    quiet_hours=st.lists(
        st.builds(QuietRange, day=st.integers(0, 6), start=HHMM, end=HHMM), max_size=5
    ).map(tuple),
    paused_until=st.one_of(
        st.none(), st.datetimes(timezones=st.just(UTC), min_value=datetime(2000, 1, 1))
    ),
    burst_threshold=st.integers(1, 100),
    extra=st.dictionaries(st.text(min_size=1).filter(lambda k: k[:1] == "x"), st.integers()),
)


@given(SETTINGS)
def test_any_valid_settings_round_trip_through_json(settings: Settings) -> None:
    assert from_json(json.loads(json.dumps(settings.to_json()))) == settings


# --------------------------------------------------------------------------- migrations


def test_version_0_is_migrated() -> None:
    v0 = {"server": "https://helpdesk.example.com/", "sound": False}
    settings = from_json(v0)
    assert settings.server_url == "https://helpdesk.example.com"
    assert settings.sound is False
    assert "server" not in settings.extra


def test_version_1_files_were_for_the_reference_backend() -> None:
    settings = from_json({"version": 1, "server_url": "https://helpdesk.example.com"})
    assert settings.backend is BackendKind.REFERENCE
    assert (settings.frappe_site_name, settings.frappe_socketio_url) == (None, None)
    # The migration adds no value: a sparse file (IT's site defaults) stays sparse.
    assert migrate({"version": 1}) == {"version": 2}


def test_a_version_2_file_keeps_the_frappe_backend(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps({"version": 2, "server_url": "https://hd.example.com", "backend": "frappe"}),
        encoding="utf-8",
    )
    settings = load_settings(path)
    assert settings.backend is BackendKind.FRAPPE
    assert settings.frappe_site_name is None  # the URL's host name is used


def test_a_version_0_file_loads_and_is_saved_as_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"server": "http://127.0.0.1:8765"}), encoding="utf-8")
    settings = load_settings(path)
    assert settings.server_url == "http://127.0.0.1:8765"
    save_settings(path, settings)
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == SETTINGS_VERSION


def test_every_migration_step_is_registered_and_advances_one_version() -> None:
    assert sorted(MIGRATIONS) == list(range(SETTINGS_VERSION))
    for version, step in MIGRATIONS.items():
        assert step({"version": version})["version"] == version + 1
    assert migrate({})["version"] == SETTINGS_VERSION


@pytest.mark.parametrize("version", [SETTINGS_VERSION + 1, 99])
def test_a_newer_version_is_refused(version: int) -> None:
    with pytest.raises(SettingsError) as caught:
        from_json({"version": version, "server_url": "https://x.example.com"})
    assert caught.value.field_name == "version"
    assert "newer than this app" in caught.value.reason


@pytest.mark.parametrize("version", [-1, "1", 1.0, True])
def test_a_malformed_version_is_refused(version: object) -> None:
    with pytest.raises(SettingsError, match="version"):
        from_json({"version": version})


# --------------------------------------------------------------------------- invalid values


@pytest.mark.parametrize(
    ("changes", "field_name", "reason_part"),
    [
        ({"server_url": "ftp://helpdesk.example.com"}, "server_url", "https://"),
        ({"server_url": "helpdesk.example.com"}, "server_url", "https://"),
        ({"server_url": "https://"}, "server_url", "name a host"),
        ({"server_url": "https://me:pw@helpdesk.example.com"}, "server_url", "user name"),
        ({"server_url": "https://helpdesk.example.com/?x=1"}, "server_url", "? or #"),
        ({"server_url": "https://helpdesk.example.com:99999"}, "server_url", "invalid port"),
        ({"server_url": "https://helpdesk.example.com:abc"}, "server_url", "invalid port"),
        ({"server_url": "https://helpdesk.example.com:0"}, "server_url", "invalid port"),
        ({"server_url": "https://help desk.example.com"}, "server_url", "spaces"),
        # Every scheme it takes is named (socks5h and socks4 were taken but not named).
        ({"proxy": "proxy.example.com:3128"}, "proxy", "socks5://, socks5h:// or socks4://"),
        ({"proxy": "http://proxy.example.com"}, "proxy", "port"),
        ({"proxy": "http://proxy.example.com:70000"}, "proxy", "invalid port"),
        ({"proxy": "http://pro xy:3128"}, "proxy", "spaces"),
        ({"burst_threshold": 0}, "burst_threshold", "between 1 and 100"),
        ({"burst_threshold": 101}, "burst_threshold", "between 1 and 100"),
        ({"burst_threshold": True}, "burst_threshold", "between 1 and 100"),
        ({"quiet_hours": (QuietRange(7, "22:00", "07:00"),)}, "quiet_hours", "0 (Monday) to 6"),
        ({"quiet_hours": (QuietRange(1, "24:00", "07:00"),)}, "quiet_hours", "HH:MM"),
        ({"quiet_hours": (QuietRange(1, "7:00", "08:00"),)}, "quiet_hours", "HH:MM"),
        ({"paused_until": datetime(2026, 1, 1)}, "paused_until", "time zone"),
        ({"toast_types": frozenset({"mention"})}, "toast_types", "notification types"),
        ({"backend": "frappe"}, "backend", "one of reference, frappe"),
        ({"frappe_site_name": "-bad-"}, "frappe_site_name", "site name"),
        ({"frappe_socketio_url": "http://user:pw@x:9000"}, "frappe_socketio_url", "password"),
        ({"frappe_time_zone": "Nowhere/Atall"}, "frappe_time_zone", "time zone"),
    ],
)
def test_invalid_values_are_refused_with_the_field_and_a_reason(
    changes: dict[str, Any], field_name: str, reason_part: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings().replace(**changes)
    assert caught.value.field_name == field_name
    assert reason_part in caught.value.reason
    assert str(caught.value).startswith(f"{field_name}: ")


@pytest.mark.parametrize(
    ("data", "field_name", "reason_part"),
    [
        ({"version": 1, "sound": "yes"}, "sound", "bool"),
        ({"version": 1, "burst_threshold": "3"}, "burst_threshold", "int"),
        ({"version": 1, "burst_threshold": False}, "burst_threshold", "whole number"),
        ({"version": 1, "toast_types": "mention"}, "toast_types", "list"),
        ({"version": 1, "toast_types": ["mention", "praise"]}, "toast_types", "'praise'"),
        ({"version": 1, "toast_types": [{}]}, "toast_types", "NotificationType"),
        ({"version": 1, "quiet_hours": [{"day": 1, "start": "25:00", "end": "01:00"}]},
         "quiet_hours", "HH:MM"),
        ({"version": 1, "quiet_hours": [{"day": 1}]}, "quiet_hours", "missing"),
        ({"version": 1, "paused_until": "tomorrow"}, "paused_until", "RFC 3339"),
        ({"version": 1, "paused_until": "2026-01-01T08:00:00"}, "paused_until", "time zone"),
        ({"version": 1, "log_level": "LOUD"}, "log_level", "'LOUD'"),
        ({"version": 1, "badge_style": 3}, "badge_style", "str"),
        ({"version": 1, "server_url": "gopher://x"}, "server_url", "https://"),
        ({"version": 2, "backend": "zammad"}, "backend", "'zammad'"),
        ({"version": 2, "backend": 1}, "backend", "str"),
        ({"version": 2, "frappe_site_name": "hd example"}, "frappe_site_name", "site name"),
        ({"version": 2, "frappe_site_name": "a/b"}, "frappe_site_name", "site name"),
        ({"version": 2, "frappe_socketio_url": "ws://x:9000"}, "frappe_socketio_url", "https://"),
        ({"version": 2, "frappe_time_zone": "Mars/Olympus"}, "frappe_time_zone", "time zone"),
    ],
)  # fmt: skip
def test_invalid_files_name_the_field(
    data: dict[str, Any], field_name: str, reason_part: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        from_json(data)
    assert caught.value.field_name == field_name
    assert reason_part in caught.value.reason


def test_frappe_fields_are_normalised() -> None:
    settings = Settings().replace(
        frappe_site_name=" /hd.localhost ",
        frappe_socketio_url="http://127.0.0.1:9000/",
        frappe_time_zone=" UTC ",
    )
    assert settings.frappe_site_name == "hd.localhost"
    assert settings.frappe_socketio_url == "http://127.0.0.1:9000"
    assert settings.frappe_time_zone == "UTC"
    blank = Settings().replace(frappe_site_name="  ", frappe_socketio_url="", frappe_time_zone="")
    assert (blank.frappe_site_name, blank.frappe_socketio_url, blank.frappe_time_zone) == (
        None,
        None,
        None,
    )


def test_validators_normalise() -> None:
    assert (
        validate_server_url("  https://helpdesk.example.com/  ") == "https://helpdesk.example.com"
    )
    assert validate_server_url("") == ""
    assert validate_proxy("   ") is None
    assert validate_proxy(None) is None
    assert validate_proxy(" http://proxy:3128 ") == "http://proxy:3128"
    assert Settings(ca_bundle="  ").replace().ca_bundle is None


# --------------------------------------------------------------------------- the file


def test_save_is_atomic_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config" / "settings.json"
    save_settings(path, CUSTOM)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_settings(path, Settings())
    assert path.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]  # no temp left


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[1, 2, 3]",
        b'"just a string"',
        b"\xff\xfe\x00 not utf-8",
        b'{"version": 1, "burst_threshold": -5}',
        b'{"version": %d, "server_url": "https://newer.example.com"}' % (SETTINGS_VERSION + 1),
    ],
    ids=["not-json", "list", "string", "not-utf8", "invalid-value", "newer-version"],
)
def test_an_unusable_file_is_moved_aside_and_defaults_are_used(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="notifier.store.settings_file"):
        assert load_settings(path) == Settings()
    assert not path.exists()
    assert (tmp_path / "settings.json.broken").read_bytes() == content  # nothing lost
    assert "moved to" in caplog.text


def test_a_second_broken_file_does_not_overwrite_the_first(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("first broken", encoding="utf-8")
    load_settings(path)
    path.write_text("second broken", encoding="utf-8")
    load_settings(path)
    path.write_text("third broken", encoding="utf-8")
    load_settings(path)
    assert (tmp_path / "settings.json.broken").read_text(encoding="utf-8") == "first broken"
    assert (tmp_path / "settings.json.broken-2").read_text(encoding="utf-8") == "second broken"
    assert (tmp_path / "settings.json.broken-3").read_text(encoding="utf-8") == "third broken"
