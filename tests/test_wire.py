"""The wire models: round trips, and rejection of everything docs/protocol.md forbids."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.core import wire
from notifier.core.wire import (
    ActionResult,
    ApiError,
    DeletedEvent,
    Hello,
    Notification,
    NotificationEvent,
    NotificationPage,
    NotificationType,
    Preferences,
    ReadStateEvent,
    ResumeRequest,
    UnknownEvent,
    WireError,
    parse_server_event,
)


def notification_json(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "n1",
        "seq": 7,
        "type": "mention",
        "from": {"kind": "agent", "id": "a2", "name": "Bea Baker"},
        "to": "a1",
        "ticket": {
            "id": "123",
            "subject": "Printer on fire",
            "url": "http://127.0.0.1:8765/tickets/123",
        },
        "comment": {"id": "c9", "url": "http://127.0.0.1:8765/tickets/123#comment-c9"},
        "message": "@alice can you look? <b>urgent</b>",
        "read": False,
        "created_at": "2026-11-25T17:00:00Z",
    }
    data.update(overrides)
    return data


def test_notification_round_trip() -> None:
    data = notification_json()
    parsed = Notification.parse(data)
    assert parsed.type is NotificationType.MENTION
    assert parsed.sender is not None and parsed.sender.name == "Bea Baker"
    assert parsed.created_at == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    assert parsed.link == "http://127.0.0.1:8765/tickets/123#comment-c9"
    # HTML stays as literal text: the wire never interprets it.
    assert parsed.message == "@alice can you look? <b>urgent</b>"
    assert parsed.to_json() == data
    assert Notification.parse(json.loads(json.dumps(parsed.to_json()))) == parsed


def test_null_sender_and_comment_round_trip() -> None:
    data = notification_json(**{"from": None, "comment": None, "type": "assignment"})
    parsed = Notification.parse(data)
    assert parsed.sender is None and parsed.comment is None
    assert parsed.link == data["ticket"]["url"]
    assert parsed.to_json() == data


def test_timestamp_offsets_are_normalised_to_utc() -> None:
    parsed = Notification.parse(notification_json(created_at="2026-11-25T18:30:00+01:30"))
    assert parsed.created_at == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
    assert parsed.to_json()["created_at"] == "2026-11-25T17:00:00Z"


@pytest.mark.parametrize(
    "missing",
    ["id", "seq", "type", "from", "to", "ticket", "comment", "message", "read", "created_at"],
)
def test_missing_fields_are_rejected(missing: str) -> None:
    data = notification_json()
    del data[missing]
    with pytest.raises(WireError) as info:
        Notification.parse(data)
    assert info.value.code == "missing_field"
    assert missing in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("seq", "7"),
        ("seq", True),
        ("seq", 0),
        ("read", 0),
        ("read", "false"),
        ("message", 5),
        ("id", ""),
        ("ticket", "123"),
        ("created_at", "yesterday"),
        ("created_at", "2026-11-25T17:00:00"),  # no offset
        ("from", {"kind": "robot", "id": "x", "name": "R"}),
        ("ticket", {"id": "1", "subject": "s", "url": "javascript:alert(1)"}),
        ("comment", {"id": "c", "url": "ftp://host/x"}),
    ],
)
def test_wrong_types_and_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(WireError) as info:
        Notification.parse(notification_json(**{field: value}))
    assert info.value.code in {"invalid_field", "unknown_type"}


def test_unknown_notification_type_is_rejected_with_its_name() -> None:
    with pytest.raises(WireError) as info:
        Notification.parse(notification_json(type="like"))
    assert info.value.code == "unknown_type"
    assert "'like'" in str(info.value)


def test_oversize_text_is_rejected() -> None:
    with pytest.raises(WireError) as info:
        Notification.parse(notification_json(message="x" * (wire.MAX_MESSAGE_CHARS + 1)))
    assert info.value.code == "too_large"
    # Exactly at the limit is fine.
    Notification.parse(notification_json(message="x" * wire.MAX_MESSAGE_CHARS))


def test_oversize_frame_is_rejected_before_parsing() -> None:
    frame = json.dumps({"type": "synced", "seq": 1, "pad": "x" * wire.MAX_FRAME_BYTES})
    with pytest.raises(WireError) as info:
        parse_server_event(frame)
    assert info.value.code == "too_large"


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "{",
        "[1,2]",
        "null",
        '"hello"',
        b"\xff\xfe",
        '{"type":"synced","seq":' + "9" * 5000 + "}",
    ],
)
def test_malformed_frames_are_rejected(frame: str | bytes) -> None:
    with pytest.raises(WireError) as info:
        parse_server_event(frame)
    assert info.value.code in {"malformed_json", "invalid_field"}


LONE = "a \ud800 b"  # what JSON's "\\ud800" escape decodes to: not text


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "notification", "seq": 7, "notification": notification_json(message=LONE)},
        {
            "type": "notification",
            "seq": 7,
            "notification": notification_json(
                ticket={"id": "1", "subject": LONE, "url": "http://h.test/t/1"}
            ),
        },
        {
            "type": "notification",
            "seq": 7,
            "notification": notification_json(
                **{"from": {"kind": "customer", "id": "c", "name": LONE}}
            ),
        },
        {"type": "read_state", "seq": 7, "ids": ["n1", LONE], "read": True},
        {"type": "deleted", "seq": 7, "ids": [LONE]},
    ],
)
def test_a_lone_surrogate_in_any_string_is_rejected_keeping_the_seq(frame: dict[str, Any]) -> None:
    for raw in (frame, json.dumps(frame)):  # decoded, and as it travels (the \\ud800 escape)
        with pytest.raises(WireError) as info:
            parse_server_event(raw)
        assert info.value.code == "invalid_field"
        assert "lone surrogate" in str(info.value)
        assert info.value.seq == 7  # a client can move its cursor past it


def test_a_lone_surrogate_in_a_hello_is_rejected_without_a_seq() -> None:
    hello = {"type": "hello", "protocol": 1, "last_seq": 3}
    hello["agent"] = {"id": "a1", "username": "alice", "name": LONE}
    with pytest.raises(WireError) as info:
        parse_server_event(json.dumps(hello))
    assert info.value.seq is None


def test_surrogate_pairs_are_text_and_accepted() -> None:
    frame = '{"type": "deleted", "seq": 3, "ids": ["\\ud83d\\ude00", "é"]}'
    assert parse_server_event(frame) == DeletedEvent(seq=3, ids=("\U0001f600", "é"))


def test_a_log_event_breaking_the_contract_keeps_its_seq_and_others_do_not() -> None:
    bad_note = {"type": "notification", "seq": 9, "notification": {"id": 5}}
    bad_read = {"type": "read_state", "seq": 10, "ids": "n1", "read": True}
    for frame, seq in ((bad_note, 9), (bad_read, 10)):
        with pytest.raises(WireError) as info:
            parse_server_event(frame)
        assert info.value.seq == seq
    for frame in ({"type": "synced", "seq": "9"}, {"type": "deleted", "seq": -1, "ids": []}):
        with pytest.raises(WireError) as info:
            parse_server_event(frame)
        assert info.value.seq is None


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_thousands_deep_is_malformed_not_a_crash(depth: int) -> None:
    nested = "[" * depth + "]" * depth
    frames = [
        nested,
        '{"type": "notification", "seq": 4, "notification": ' + nested + "}",
        '{"type": "resume", "after_seq": ' + nested + "}",
    ]
    for frame in frames:
        with pytest.raises(WireError) as info:
            parse_server_event(frame) if "resume" not in frame else ResumeRequest.parse(frame)
        assert info.value.code in {"malformed_json", "invalid_field"}
    with pytest.raises(WireError, match="nested too deeply"):
        wire.decode_json(frames[1])


def test_a_seq_beyond_what_a_client_can_store_is_rejected() -> None:
    assert parse_server_event({"type": "synced", "seq": wire.MAX_SEQ}).seq == wire.MAX_SEQ  # type: ignore[union-attr]
    for frame in (
        {"type": "synced", "seq": wire.MAX_SEQ + 1},
        {"type": "notification", "seq": 2**64, "notification": notification_json(seq=2**64)},
    ):
        with pytest.raises(WireError, match="at most"):
            parse_server_event(frame)
    page = {"notifications": [], "unread_count": 0, "last_seq": 2**63, "has_more": False}
    with pytest.raises(WireError, match="at most"):
        NotificationPage.parse(page)


def test_stream_events_round_trip() -> None:
    note = Notification.parse(notification_json())
    events = [
        Hello(
            protocol=1, agent=wire.AgentInfo(id="a1", username="alice", name="Alice"), last_seq=9
        ),
        NotificationEvent(seq=7, notification=note),
        ReadStateEvent(seq=8, ids=("n1", "n2"), read=True),
        DeletedEvent(seq=9, ids=("n1",)),
        wire.UnreadCountEvent(seq=9, count=3),
        wire.SyncedEvent(seq=9),
        wire.ResetEvent(seq=9, reason="cursor ahead of log"),
        wire.ErrorEvent(code="bad_message", message="expected resume"),
    ]
    for event in events:
        assert parse_server_event(wire.encode_json(event.to_json())) == event


def test_notification_event_seq_must_match_its_notification() -> None:
    frame = {"type": "notification", "seq": 8, "notification": notification_json(seq=7)}
    with pytest.raises(WireError):
        parse_server_event(frame)


def test_unknown_event_types_are_passed_on_to_be_ignored() -> None:
    event = parse_server_event('{"type": "typing", "seq": 12, "who": "bob"}')
    assert event == UnknownEvent(type="typing", seq=12)


def test_resume_request() -> None:
    assert ResumeRequest.parse('{"type":"resume","after_seq":41}') == ResumeRequest(41)
    assert ResumeRequest(41).to_json() == {"type": "resume", "after_seq": 41}
    with pytest.raises(WireError):
        ResumeRequest.parse('{"type":"resume","after_seq":-1}')
    with pytest.raises(WireError):
        ResumeRequest.parse('{"type":"subscribe"}')


def test_rest_bodies_round_trip() -> None:
    page = NotificationPage(
        notifications=(Notification.parse(notification_json()),),
        unread_count=1,
        last_seq=12,
        has_more=False,
    )
    assert NotificationPage.parse(json.dumps(page.to_json())) == page
    result = ActionResult(seq=13, changed=1, unread_count=0)
    assert ActionResult.parse(result.to_json()) == result
    error = ApiError(code="not_found", message="no such notification")
    assert ApiError.parse(json.dumps(error.to_json())) == error


def test_page_with_one_bad_item_is_rejected_naming_it() -> None:
    bad = notification_json(type="like")
    body = {
        "notifications": [notification_json(), bad],
        "unread_count": 1,
        "last_seq": 9,
        "has_more": False,
    }
    with pytest.raises(WireError) as info:
        NotificationPage.parse(body)
    assert "notifications[1]" in str(info.value)


def test_preferences_round_trip_and_validation() -> None:
    prefs = Preferences(
        in_app=True,
        types=frozenset({NotificationType.ASSIGNMENT, NotificationType.MENTION}),
        comment_reactions=False,
        email=wire.EmailPreferences(
            enabled=True,
            frequency=wire.EmailFrequency.DAILY_DIGEST,
            types=frozenset({NotificationType.ASSIGNMENT}),
        ),
        quiet_hours=(wire.QuietRange(day=4, start="22:00", end="07:00"),),
        timezone="Europe/Berlin",
    )
    assert Preferences.parse(json.loads(json.dumps(prefs.to_json()))) == prefs
    bad = copy.deepcopy(prefs.to_json())
    bad["quiet_hours"][0]["start"] = "25:00"
    with pytest.raises(WireError):
        Preferences.parse(bad)
    bad = copy.deepcopy(prefs.to_json())
    bad["types"] = ["assignment", "like"]
    with pytest.raises(WireError) as info:
        Preferences.parse(bad)
    assert info.value.code == "unknown_type"


def test_email_fields_added_after_version_1_are_optional_and_checked() -> None:
    newer = wire.EmailPreferences(
        enabled=True,
        frequency=wire.EmailFrequency.HOURLY_DIGEST,
        digest_time="18:30",
        only_when_disconnected=False,
    )
    assert wire.EmailPreferences.parse(json.loads(json.dumps(newer.to_json()))) == newer
    version_1 = {"enabled": True, "frequency": "daily_digest", "types": ["mention"], "x": 1}
    parsed = wire.EmailPreferences.parse(version_1)
    assert (parsed.digest_time, parsed.only_when_disconnected) == ("08:00", True)
    for key, value in (
        ("digest_time", "8:00"),
        ("digest_time", 800),
        ("only_when_disconnected", 1),
    ):
        with pytest.raises(WireError) as info:
            wire.EmailPreferences.parse({**version_1, key: value})
        assert key in str(info.value)


texts = st.text(max_size=60)


@given(
    seq=st.integers(min_value=1, max_value=2**53),
    message=st.text(max_size=wire.MAX_MESSAGE_CHARS),
    subject=st.text(max_size=200),
    name=texts.filter(bool),
    read=st.booleans(),
    kind=st.sampled_from(list(NotificationType)),
)
def test_any_valid_notification_round_trips(
    seq: int, message: str, subject: str, name: str, read: bool, kind: NotificationType
) -> None:
    data = notification_json(seq=seq, message=message, read=read, type=kind.value)
    data["ticket"]["subject"] = subject
    data["from"]["name"] = name
    parsed = Notification.parse(json.loads(wire.encode_json(data)))
    assert parsed.to_json() == data


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_never_crashes_the_parser(value: object) -> None:
    # Either a typed event or a WireError with a known code; never another exception.
    try:
        event = parse_server_event(json.dumps(value))
    except WireError as error:
        assert error.code in {
            "malformed_json",
            "invalid_field",
            "missing_field",
            "unknown_type",
            "too_large",
        }
    else:
        assert isinstance(
            event,
            UnknownEvent
            | wire.SyncedEvent
            | wire.ErrorEvent
            | Hello
            | wire.UnreadCountEvent
            | ReadStateEvent
            | DeletedEvent
            | NotificationEvent
            | wire.ResetEvent,
        )


def test_reason_is_optional_and_unknown_reasons_are_dropped() -> None:
    with_reason = Notification.parse(notification_json(reason="customer_reopened"))
    assert with_reason.reason is wire.Reason.CUSTOMER_REOPENED
    assert with_reason.to_json()["reason"] == "customer_reopened"
    assert Notification.parse(notification_json(reason="gossip")).reason is None
    assert "reason" not in Notification.parse(notification_json()).to_json()


def test_a_client_reading_its_history_skips_a_bad_item_and_keeps_its_seq() -> None:
    good = notification_json(seq=3)
    bad_text = {**notification_json(seq=4), "message": "broken \ud800 text"}
    bad_type = notification_json(type="like", seq=5)
    no_seq = {**notification_json(), "seq": "x"}
    body = {
        "notifications": [good, bad_text, bad_type, no_seq],
        "unread_count": 1,
        "last_seq": 9,
        "has_more": True,
    }
    with pytest.raises(WireError):
        NotificationPage.parse(body)  # strict unless asked
    page = NotificationPage.parse(body, skip_bad=True)
    assert [n.seq for n in page.notifications] == [3]
    assert [seq for seq, _why in page.skipped] == [4, 5, None]
    assert all(why for _seq, why in page.skipped)
    assert page.end_seq == 5  # the next page starts after the skipped ones
    assert NotificationPage.parse(body | {"notifications": []}).end_seq == 0


# Values a field of a notification can be given by a hostile or broken server: every JSON
# type, edge lengths, lone surrogates, near-miss enums, URLs and timestamps.
ODD_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2**63,
    1.5,
    "",
    "x",
    "x" * 64,
    "x" * 65,
    "x" * 201,
    "x" * 501,
    "x" * 2049,
    "x" * 4001,
    "\ud800",
    "a\udfffb",
    "Zo\u00eb \U0001f44d",
    "agent",
    "Agent",
    "robot",
    "mention",
    "MENTION",
    "assigned",
    "http://127.0.0.1/t",
    "HTTPS://h",
    "ftp://h",
    "http:///x",
    "javascript:alert(1)",
    "2026-11-25T17:00:00Z",
    "2026-11-25T17:00:00+02:00",
    "2026-11-25T17:00:00",
    "2026-13-25T17:00:00Z",
    "2026-11-25T17:00:00.000000000000000000000000000Z",
    [],
    [1],
    {},
    {"id": "1", "kind": "agent", "name": "n", "url": "http://h/", "subject": ""},
]
NOTIFICATION_PATHS: list[tuple[str, ...]] = [
    ("id",),
    ("seq",),
    ("type",),
    ("from",),
    ("from", "kind"),
    ("from", "id"),
    ("from", "name"),
    ("to",),
    ("ticket",),
    ("ticket", "id"),
    ("ticket", "subject"),
    ("ticket", "url"),
    ("comment",),
    ("comment", "id"),
    ("comment", "url"),
    ("message",),
    ("read",),
    ("created_at",),
    ("reason",),
]
Change = tuple[tuple[str, ...], bool, object]  # (path, delete it, else the value to set)


def changed_notification(changes: list[Change]) -> dict[str, Any]:
    data = notification_json(reason="mentioned")
    for path, delete, value in changes:
        *parents, key = path
        target: Any = data
        for parent in parents:
            target = target.get(parent) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if delete:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
    return data


def assert_quick_and_strict_agree(data: dict[str, Any]) -> None:
    # Notification.parse takes a quick path for the common case; whatever it accepts it must
    # read exactly as the strict, field-by-field path does, and whatever the strict path
    # refuses it must refuse too (it then hands over, and the strict path names the error).
    try:
        strict: Notification | None = Notification.parse_strictly(data)
    except WireError:
        strict = None
    quick = wire._quick_notification(data)
    assert quick is None or quick == strict, data
    if strict is not None:
        assert Notification.parse(data) == strict
    else:
        with pytest.raises(WireError):
            Notification.parse(data)


def test_the_quick_notification_parser_agrees_with_the_strict_one_field_by_field() -> None:
    for path in NOTIFICATION_PATHS:
        assert_quick_and_strict_agree(changed_notification([(path, True, None)]))
        for value in ODD_VALUES:
            assert_quick_and_strict_agree(changed_notification([(path, False, value)]))


@given(
    st.lists(
        st.tuples(st.sampled_from(NOTIFICATION_PATHS), st.booleans(), st.sampled_from(ODD_VALUES)),
        min_size=2,
        max_size=4,
    )
)
def test_the_quick_notification_parser_agrees_with_the_strict_one_on_mixtures(
    changes: list[Change],
) -> None:
    assert_quick_and_strict_agree(changed_notification(changes))


def test_the_quick_parser_reads_the_common_notification() -> None:
    # Not an accident of the cases above: a plain notification takes the quick path, with or
    # without a sender and a comment.
    for data in (
        notification_json(reason="mentioned"),
        notification_json(comment=None, **{"from": None}),
    ):
        assert wire._quick_notification(data) == Notification.parse_strictly(data)


def test_events_frames_group_whole_frames_within_their_budget() -> None:
    frames = [wire.encode_json(ReadStateEvent(seq, ("n1",), True).to_json()) for seq in range(1, 8)]
    size = len(frames[0])
    head_and_tail = len('{"type":"events","events":[]}')
    # Room for three frames (and their commas) a batch: 3 + 3 + 1, the last one alone as it is.
    grouped = list(wire.batch_frames(frames, max_chars=head_and_tail + 3 * (size + 1)))
    assert [json.loads(g)["type"] for g in grouped] == ["events", "events", "read_state"]
    assert grouped[2] == frames[6]
    items = [item for g in grouped[:2] for item in json.loads(g)["events"]]
    assert [json.dumps(i, separators=(",", ":")) for i in items] == frames[:6]
    # A frame too large to share one goes alone, between the batches around it.
    huge = wire.encode_json(ReadStateEvent(99, tuple(f"n{i}" for i in range(500)), True).to_json())
    regrouped = list(wire.batch_frames([frames[0], frames[1], huge, frames[2]], max_chars=1000))
    assert [json.loads(g)["type"] for g in regrouped] == ["events", "read_state", "read_state"]
    assert regrouped[1] == huge
    assert list(wire.batch_frames([])) == []
    # Never more events a frame than a client accepts, whatever the budget.
    many = list(wire.batch_frames(frames[:1] * 2_500, max_chars=10**9))
    assert [len(json.loads(g)["events"]) for g in many] == [1_000, 1_000, 500]


def test_an_events_frame_parses_item_by_item() -> None:
    good = ReadStateEvent(4, ("n1",), True)
    frame = {"type": "events", "events": [good.to_json(), {"type": "deleted", "seq": 5}, 7]}
    batch = parse_server_event(json.dumps(frame))
    assert isinstance(batch, wire.EventBatch)
    assert wire.parse_batched_event(batch.items[0]) == good
    with pytest.raises(WireError) as missing:
        wire.parse_batched_event(batch.items[1])
    assert missing.value.seq == 5  # readable: the client moves past it
    with pytest.raises(WireError) as not_an_object:
        wire.parse_batched_event(batch.items[2])
    assert not_an_object.value.seq is None
    with pytest.raises(WireError, match="must not be an events frame"):
        wire.parse_batched_event({"type": "events", "events": []})
    for broken in ({"type": "events"}, {"type": "events", "events": {}}):
        with pytest.raises(WireError):
            parse_server_event(json.dumps(broken))
    with pytest.raises(WireError) as too_many:
        parse_server_event(json.dumps({"type": "events", "events": [1] * 1_001}))
    assert too_many.value.code == "too_large"


def test_a_resume_request_may_ask_for_events_frames() -> None:
    assert ResumeRequest(3, batch=True).to_json() == {
        "type": "resume",
        "after_seq": 3,
        "batch": True,
    }
    assert ResumeRequest.parse('{"type":"resume","after_seq":3,"batch":true}') == ResumeRequest(
        3, batch=True
    )
    for other in ("false", "1", '"yes"', "null"):
        parsed = ResumeRequest.parse(f'{{"type":"resume","after_seq":3,"batch":{other}}}')
        assert parsed.batch is False
