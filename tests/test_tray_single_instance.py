"""Single instance: a second start wakes the first and backs off. Both implementations run
here: the Unix-socket one (Linux, macOS) and the QLocalServer twin (Windows's, which works
on Linux too), over real local sockets."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from notifier.ui.single_instance import (
    SingleInstance,
    instance_name,
    single_instance,
    socket_path,
)
from notifier.ui.single_instance_qt import LocalServerSingleInstance

Guard = SingleInstance | LocalServerSingleInstance


def unix_socket(name: str) -> Guard:
    return SingleInstance(name, socket_path(name))


IMPLEMENTATIONS: list[Callable[[str], Guard]] = [unix_socket, LocalServerSingleInstance]


def test_names_differ_per_notifier_home(tmp_path: Path) -> None:
    a = instance_name({"NOTIFIER_HOME": str(tmp_path / "a")})
    b = instance_name({"NOTIFIER_HOME": str(tmp_path / "b")})
    assert a != b
    assert a == instance_name({"NOTIFIER_HOME": str(tmp_path / "a")})
    assert a.startswith("notifier-")


def test_the_socket_lives_in_the_runtime_folder_if_it_fits(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    assert socket_path("n", {"XDG_RUNTIME_DIR": str(runtime)}) == runtime / "n.sock"
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    fallback = socket_path("n", {"XDG_RUNTIME_DIR": str(deep)})
    assert fallback.parent != deep and len(os.fsencode(fallback)) <= 100
    assert socket_path("n", {}).name == "n.sock"


def test_posix_uses_the_unix_socket_without_qtnetwork(tmp_path: Path) -> None:
    guard = single_instance("notifier-x", {"XDG_RUNTIME_DIR": str(tmp_path)})
    assert isinstance(guard, SingleInstance)
    assert guard.path == tmp_path / "notifier-x.sock"


@pytest.mark.parametrize("make", IMPLEMENTATIONS)
def test_second_instance_wakes_the_first(
    qtbot: QtBot, tmp_path: Path, make: Callable[[str], Guard]
) -> None:
    name = instance_name({"NOTIFIER_HOME": str(tmp_path)})
    first = make(name)
    assert first.claim() is True
    second = make(name)
    with qtbot.waitSignal(first.activated, timeout=5000):
        assert second.claim() is False
    first.release()
    # Once the first is gone, a new start wins again.
    third = make(name)
    assert third.claim() is True
    third.release()


@pytest.mark.parametrize("make", IMPLEMENTATIONS)
def test_a_stale_socket_is_taken_over(
    qtbot: QtBot, tmp_path: Path, make: Callable[[str], Guard]
) -> None:
    name = instance_name({"NOTIFIER_HOME": str(tmp_path / "stale")})
    crashed = make(name)
    assert crashed.claim()
    # Simulate a crash: the socket file stays but nobody accepts on it any more.
    assert crashed._server is not None
    crashed._server.close()
    successor = make(name)
    assert successor.claim() is True
    other = make(name)
    with qtbot.waitSignal(successor.activated, timeout=5000):
        assert other.claim() is False
    successor.release()


def test_only_activate_wakes_and_a_chatty_client_is_dropped(qtbot: QtBot, tmp_path: Path) -> None:
    name = instance_name({"NOTIFIER_HOME": str(tmp_path / "chatty")})
    first = unix_socket(name)
    assert first.claim()
    assert isinstance(first, SingleInstance)
    woken: list[bool] = []
    first.activated.connect(lambda: woken.append(True))
    for message in (b"hello\n", b"x" * 1000):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(os.fspath(first.path))
            client.sendall(message)
        qtbot.waitUntil(lambda: not first._clients, timeout=5000)  # read and dropped
    assert woken == []
    # Still listening afterwards.
    with qtbot.waitSignal(first.activated, timeout=5000):
        assert unix_socket(name).claim() is False
    first.release()
    assert not first.path.exists()  # cleaned up on the way out


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root (chown)")
def test_a_socket_of_another_user_is_not_trusted(qtbot: QtBot, tmp_path: Path) -> None:
    name = instance_name({"NOTIFIER_HOME": str(tmp_path / "other")})
    squatter = unix_socket(name)
    assert squatter.claim()
    assert isinstance(squatter, SingleInstance)
    os.chown(squatter.path, 12345, 12345, follow_symlinks=False)
    woken: list[bool] = []
    squatter.activated.connect(lambda: woken.append(True))
    ours = unix_socket(name)
    assert ours.claim() is True  # does not defer to (or wake) a stranger's socket
    assert woken == []
    ours.release()
    squatter.release()


def test_the_guard_is_a_qobject_with_the_same_surface() -> None:
    for cls in (SingleInstance, LocalServerSingleInstance):
        assert issubclass(cls, QObject)
        assert callable(cls.claim) and callable(cls.release)
        assert hasattr(cls, "activated")
    assert sys.platform != "win32" or not hasattr(socket, "AF_UNIX")
