"""Single instance over QLocalServer: a second start wakes the first and backs off."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from notifier.ui.single_instance import SingleInstance, instance_name


def test_names_differ_per_notifier_home(tmp_path: Path) -> None:
    a = instance_name({"NOTIFIER_HOME": str(tmp_path / "a")})
    b = instance_name({"NOTIFIER_HOME": str(tmp_path / "b")})
    assert a != b
    assert a == instance_name({"NOTIFIER_HOME": str(tmp_path / "a")})
    assert a.startswith("notifier-")


def test_second_instance_wakes_the_first(qtbot: QtBot, tmp_path: Path) -> None:
    name = instance_name({"NOTIFIER_HOME": str(tmp_path)})
    first = SingleInstance(name)
    assert first.claim() is True
    second = SingleInstance(name)
    with qtbot.waitSignal(first.activated, timeout=5000):
        assert second.claim() is False
    first.release()
    # Once the first is gone, a new start wins again.
    third = SingleInstance(name)
    assert third.claim() is True
    third.release()


def test_a_stale_socket_is_taken_over(qtbot: QtBot, tmp_path: Path) -> None:
    name = instance_name({"NOTIFIER_HOME": str(tmp_path / "stale")})
    crashed = SingleInstance(name)
    assert crashed.claim()
    # Simulate a crash: the socket file stays but nobody accepts on it any more.
    assert crashed._server is not None
    crashed._server.close()
    successor = SingleInstance(name)
    assert successor.claim() is True
    other = SingleInstance(name)
    with qtbot.waitSignal(successor.activated, timeout=5000):
        assert other.claim() is False
    successor.release()
