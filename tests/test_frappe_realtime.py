"""The pure parts of the Frappe client: the Socket.IO packet codec of
notifier/client/frappe_realtime.py, without sockets (the driver is exercised against
python-socketio's server in the stand-in tests), and the API token form."""

from __future__ import annotations

import pytest

from notifier.client.frappe_realtime import (
    EngineIOType,
    PacketError,
    SocketIOType,
    decode_engineio,
    decode_socketio,
    encode_connect,
    encode_event,
    socketio_url,
)
from notifier.client.frappe_rest import FrappeCredentials
from notifier.core.errors import ConnectionLost


def test_frames_recorded_from_a_real_site_decode() -> None:
    # The debug log in shared/frappe-helpdesk-observed.md ("Wire frames").
    opened = decode_engineio(
        '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'
    )
    assert opened.type is EngineIOType.OPEN
    connected = decode_socketio(decode_engineio('40/hd.localhost,{"sid":"4ZvT"}').data)
    assert (connected.type, connected.namespace, connected.data) == (
        SocketIOType.CONNECT,
        "/hd.localhost",
        {"sid": "4ZvT"},
    )
    update = decode_socketio(
        '2/hd.localhost,["list_update",{"doctype":"HD Notification","name":"ao3hs8qb9p",'
        '"user":"agent.a@example.com"}]'
    )
    assert update.type is SocketIOType.EVENT
    assert update.data == [
        "list_update",
        {"doctype": "HD Notification", "name": "ao3hs8qb9p", "user": "agent.a@example.com"},
    ]


def test_packets_this_client_sends() -> None:
    assert encode_connect("/hd.localhost") == "40/hd.localhost,"
    assert (
        encode_event("/hd.localhost", "doctype_subscribe", "HD Notification")
        == '42/hd.localhost,["doctype_subscribe","HD Notification"]'
    )


@pytest.mark.parametrize(
    ("data", "kind", "namespace", "payload", "attachments"),
    [
        ('2["ping-like",1]', SocketIOType.EVENT, "/", ["ping-like", 1], 0),
        ('2/ns,12["acked"]', SocketIOType.EVENT, "/ns", ["acked"], 0),
        ("1/ns,", SocketIOType.DISCONNECT, "/ns", None, 0),
        ('4/ns,{"message":"Invalid origin"}', SocketIOType.CONNECT_ERROR, "/ns",
         {"message": "Invalid origin"}, 0),
        ('51-/ns,["file",{"_placeholder":true,"num":0}]', SocketIOType.BINARY_EVENT, "/ns",
         ["file", {"_placeholder": True, "num": 0}], 1),
    ],
)  # fmt: skip
def test_socketio_packet_shapes(
    data: str, kind: SocketIOType, namespace: str, payload: object, attachments: int
) -> None:
    packet = decode_socketio(data)
    assert (packet.type, packet.namespace, packet.data, packet.attachments) == (
        kind,
        namespace,
        payload,
        attachments,
    )


@pytest.mark.parametrize("frame", ["", "x", "9", "7abc"])
def test_bad_engineio_frames_are_refused(frame: str) -> None:
    with pytest.raises(PacketError):
        decode_engineio(frame)


@pytest.mark.parametrize("data", ["", "x", "9", "2/ns,{not json", "5/ns,[]"])
def test_bad_socketio_packets_are_refused(data: str) -> None:
    with pytest.raises(PacketError):
        decode_socketio(data)


def test_socketio_urls() -> None:
    assert socketio_url("https://hd.example.com/") == (
        "wss://hd.example.com/socket.io/?EIO=4&transport=websocket"
    )
    assert socketio_url("http://127.0.0.1:9000") == (
        "ws://127.0.0.1:9000/socket.io/?EIO=4&transport=websocket"
    )
    with pytest.raises(ConnectionLost):
        socketio_url("ftp://hd.example.com")


def test_an_api_token_is_key_colon_secret() -> None:
    credentials = FrappeCredentials.from_api_token(" 7456fe0e1899f76:b742058d11a56c3\n")
    assert (credentials.api_key, credentials.api_secret) == ("7456fe0e1899f76", "b742058d11a56c3")
    assert "b742058d11a56c3" not in repr(credentials)
    for bad in ("no-colon", ":secret", "key:"):
        with pytest.raises(ValueError, match="api key"):
            FrappeCredentials.from_api_token(bad)
