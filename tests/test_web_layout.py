"""How the web pages lay out in a real browser (Debian's chromium) for a picky user: a 320 px
phone with long names, subjects and URLs, fingers on the notification center, a link to a
comment under the sticky header, the ticket's assign row on a desktop."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpdesk import HelpdeskActions
from playwright.sync_api import Browser, Page, expect
from web_browser import COLOUR_MATH, PASSWORD, PHONE, chromium, cli, demo, signed_in, swipe

__all__ = ["chromium", "demo"]  # the module-scoped fixtures

pytestmark = pytest.mark.timeout(120)

LONG_NAME = "Maximiliana Alexandrina Wolfeschlegelsteinhausenbergerdorff-Featherstonehaugh"
LONG_SUBJECT = (
    "Our invoices from the third quarter show duplicated line items for every subscription "
    "seat we added after the migration, and the totals no longer match the purchase orders"
)
LONG_URL = "https://logs.example.com/" + "x" * 180
# How many lines an element's text takes (a wrapped "Sign out" takes two).
TEXT_LINES = """el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set(Array.from(range.getClientRects(), r => Math.round(r.top))).size;
}"""


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Story:
    url: str
    admin: str
    ticket: str
    comments: list[str]


@pytest.fixture
def story(demo: tuple[str, Path]) -> Story:
    """On the demo, an admin (the fullest header) and a long-named colleague who assigns them
    a ticket with a long subject and mentions them with a long URL, then comments twelve
    times more."""
    url, db = demo
    admin = unique("admin")
    cli(db, "add-agent", admin, "--name", "Ada Admin", "--password", PASSWORD, "--admin")
    long = HelpdeskActions(url, cli(db, "add-agent", unique("long"), "--name", LONG_NAME))
    email = f"{unique('c')}@example.com"
    customer = HelpdeskActions(url, cli(db, "add-customer", email, "--name", LONG_NAME))
    try:
        ticket = customer.create_ticket(LONG_SUBJECT, f"See {LONG_URL} for the export.")["id"]
        long.assign(ticket, admin)
        comments = [long.comment(ticket, f"@{admin} look at {LONG_URL} please")["id"]]
        comments += [long.comment(ticket, f"Note {n}\nwith\nfour\nlines")["id"] for n in range(12)]
    finally:
        long.close()
        customer.close()
    return Story(url, admin, ticket, comments)


def too_small(page: Page, selector: str) -> list[tuple[str, float, float]]:
    """The visible controls under ``selector`` smaller than 44 × 44 px: (text, width, height).
    Links inside a person's text are words in a sentence (WCAG 2.5.8 exempts them)."""
    found: list[tuple[str, float, float]] = page.eval_on_selector_all(
        f"{selector} :is(a[href], button, select, input:not([type=hidden]), summary)",
        """els => els.filter(e => e.getClientRects().length && !e.closest(".text, .body, .full"))
            .map(e => [e.textContent.trim(), e.getBoundingClientRect().width,
                       e.getBoundingClientRect().height])
            .filter(([, w, h]) => w < 44 || h < 44)""",
    )
    return found


def test_a_320_px_phone_never_scrolls_sideways_and_the_header_stays_on_one_line(
    story: Story, chromium: Browser
) -> None:
    narrow = {**PHONE, "viewport": {"width": 320, "height": 640}}
    context, page = signed_in(chromium, story.url, story.admin, "/notifications", **narrow)
    expect(page.locator(".note")).not_to_have_count(0)
    for path in (
        "/notifications",
        "detail",
        "/",
        f"/tickets/{story.ticket}",
        "/admin",
        "/mail",
        "/x",
    ):
        if path == "detail":
            page.goto("/notifications")
            page.locator(".note .note-open").first.tap()
            expect(page.locator(".detail:not([hidden])")).to_be_visible()
        else:
            page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, (path, width)
        if path != "detail":
            for part in (".signout button", ".top nav a >> nth=0", ".top nav a >> nth=2"):
                assert page.locator(part).evaluate(TEXT_LINES) == 1, (path, part)
    context.close()


def test_every_control_of_the_phone_notification_center_and_ticket_is_44_px(
    story: Story, chromium: Browser
) -> None:
    context, page = signed_in(chromium, story.url, story.admin, "/notifications", **PHONE)
    expect(page.locator(".note")).not_to_have_count(0)
    assert too_small(page, ".top") == []
    assert too_small(page, "#center") == []
    page.locator(".note .note-open").first.tap()
    assert too_small(page, ".detail:not([hidden])") == []
    page.locator(".detail:not([hidden]) .back").tap()
    swipe(page, ".note-body", 160)  # right: delete, with an undo in the toast
    expect(page.locator("#toast")).to_be_visible()
    assert too_small(page, "#toast") == []
    # The ticket a notification leads to: reactions, the assign picker, the reply box.
    page.goto(f"/tickets/{story.ticket}")
    assert too_small(page, "main") == []
    context.close()


def test_a_link_to_a_comment_shows_it_below_the_sticky_header(
    story: Story, chromium: Browser
) -> None:
    for options in ({"viewport": {"width": 1280, "height": 700}}, PHONE):
        context, page = signed_in(chromium, story.url, story.admin, "/", **options)
        page.goto(f"/tickets/{story.ticket}#comment-{story.comments[8]}")
        target = page.locator(f"#comment-{story.comments[8]}")
        expect(target).to_be_in_viewport()
        header = page.locator(".top").bounding_box()
        box = target.bounding_box()
        assert header is not None and box is not None
        assert box["y"] >= header["y"] + header["height"], (options, header, box)
        context.close()


def test_the_assign_button_stays_beside_its_picker_on_a_desktop(
    story: Story, chromium: Browser
) -> None:
    # The picker lists the long-named colleague: it must not push the button down.
    context, page = signed_in(chromium, story.url, story.admin, f"/tickets/{story.ticket}")
    picker = page.locator("#assign-to").bounding_box()
    button = page.get_by_role("button", name="Assign", exact=True).bounding_box()
    assert picker is not None and button is not None
    assert abs(button["y"] + button["height"] / 2 - picker["y"] - picker["height"] / 2) < 4
    assert button["x"] > picker["x"] + picker["width"]
    context.close()


# Every visible text's contrast with what is behind it (the first ancestor with a background,
# opacity blended in); emoji (reaction buttons) are pictures, not text, and screen-reader
# text (.sr) is not seen.
LOW_CONTRAST = (
    """min => {
"""
    + COLOUR_MATH
    + """    const behind = el => {
        for (let e = el; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c.length === 3 || c[3] > 0) return c;
        }
        return [255, 255, 255];
    };
    const low = [];
    for (const el of document.querySelectorAll("body *")) {
        if (el.closest(".reaction, .sprite, .sr, [hidden]")) continue;
        if (!el.getClientRects().length) continue;
        const texts = Array.from(el.childNodes).filter(n => n.nodeType === 3);
        const own = texts.some(n => n.textContent.trim());
        if (!own) continue;
        let opacity = 1;
        for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
        const bg = behind(el), fg = rgba(getComputedStyle(el).color);
        const seen = fg.slice(0, 3).map((v, i) => v * opacity + bg[i] * (1 - opacity));
        const r = ratio(seen, bg);
        if (r < min) low.push([el.textContent.trim().slice(0, 30), Math.round(r * 100) / 100]);
    }
    return low;
}"""
)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_meets_wcag_aa_contrast_and_focus_is_visible(
    story: Story, chromium: Browser, scheme: str
) -> None:
    options = {"viewport": {"width": 1280, "height": 900}, "color_scheme": scheme}
    context, page = signed_in(chromium, story.url, story.admin, "/notifications", **options)
    ticket = f"/tickets/{story.ticket}"
    later = f"{ticket}?after={story.comments[0]}"  # its link back sits on the page's background
    for path in ("/notifications", "/", ticket, later, "/admin", "/mail", "/x"):
        page.goto(path)
        assert page.evaluate(LOW_CONTRAST, 4.5) == [], (path, scheme)
        # The keyboard's focus ring stands out from the page around it (3:1, WCAG 1.4.11).
        page.keyboard.press("Tab")
        ring = page.evaluate(
            """() => {
                const el = document.activeElement, style = getComputedStyle(el);
                return [style.outlineStyle, style.outlineColor,
                        getComputedStyle(document.body).backgroundColor];
            }"""
        )
        assert ring[0] != "none", (path, ring)
        assert page.evaluate(CONTRAST_OF, ring[1:]) >= 3, (path, scheme, ring)
    context.close()


CONTRAST_OF = """([a, b]) => {
    const lum = s => {
        const [r, g, b] = s.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
            v /= 255;
            return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    return (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
}"""


def test_the_keyboards_first_stop_skips_the_header(story: Story, chromium: Browser) -> None:
    context, page = signed_in(chromium, story.url, story.admin, "/notifications")
    expect(page.locator(".note")).not_to_have_count(0)
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to the page's content")
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Mark all read")  # the page's first control
    context.close()


# Each header link's place and size (x, width), by its words.
NAV_BOXES = """() => Array.from(document.querySelectorAll(".top nav a"), a => {
    const box = a.getBoundingClientRect();
    return [a.getAttribute("aria-label") || a.textContent.trim(), Math.round(box.x * 10) / 10,
            Math.round(box.width * 10) / 10];
})"""


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_header_links_stay_put_from_page_to_page(
    story: Story, chromium: Browser, device: str
) -> None:
    # The current page's link is bold: it must not widen and push its neighbours aside, or
    # every link jumps under the pointer as one moves from Tickets to Mail to Settings.
    options = PHONE if device == "phone" else {"viewport": {"width": 1280, "height": 800}}
    context, page = signed_in(chromium, story.url, story.admin, "/", **options)
    placed: dict[str, list[list[object]]] = {}
    for path in ("/", "/mail", "/admin", "/notifications", f"/tickets/{story.ticket}"):
        page.goto(path)
        boxes = page.evaluate(NAV_BOXES)
        # The bell's label counts unread ones; its place is what is compared.
        placed[path] = [[name.split(",")[0], x, width] for name, x, width in boxes]
    first = placed["/"]
    assert [name for name, _, _ in first] == ["Tickets", "Mail", "Settings", "Notifications"]
    assert {path: boxes for path, boxes in placed.items() if boxes != first} == {}, first
    context.close()


def test_every_dot_between_facts_has_a_space_on_both_sides(story: Story, chromium: Browser) -> None:
    # "customer: Priya Nair· assigned to: Ada" read as a typo on the ticket's first line.
    context, page = signed_in(chromium, story.url, story.admin, "/")
    cramped: dict[str, list[str]] = {}
    for path in ("/", f"/tickets/{story.ticket}", "/notifications", "/mail"):
        page.goto(path)
        lines = page.locator("main .meta").all_inner_texts()
        assert lines, path
        bad = [line for line in lines if re.search(r"\S·|·\S", line)]
        if bad:
            cramped[path] = bad
    assert cramped == {}
    context.close()


# Where each line of the mail's subject, and its first line below it, starts.
MAIL_LINE_STARTS = """summary => {
    const starts = el => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return Array.from(range.getClientRects(), r => Math.round(r.left));
    };
    return [starts(summary.querySelector("strong")), starts(summary.querySelector(".line"))];
}"""


def test_a_long_mail_subject_wraps_under_itself_on_a_phone(story: Story, chromium: Browser) -> None:
    # The subject's second line started under the ▶, left of the words it continues and of
    # the mail's first line below it.
    narrow = {**PHONE, "viewport": {"width": 320, "height": 640}}
    context, page = signed_in(chromium, story.url, story.admin, "/mail", **narrow)
    summaries = page.locator(".mails summary")
    expect(summaries).not_to_have_count(0)
    wrapped = 0
    for index in range(summaries.count()):
        subject, line = summaries.nth(index).evaluate(MAIL_LINE_STARTS)
        assert len(set(line)) == 1, line  # the first line: one left edge however it wraps
        if len(subject) > 1:
            wrapped += 1
            assert set(subject[1:]) == set(line), (index, subject, line)
    assert wrapped, "no subject wraps at 320 px: the test shows nothing"
    context.close()


# The selected choice's width in the picker's font, and the room the picker gives its text.
PICKER_ROOM = """select => {
    const style = getComputedStyle(select);
    const context = document.createElement("canvas").getContext("2d");
    context.font = style.font;
    const text = select.options[select.selectedIndex].text;
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    const room = select.clientWidth - padding;
    return [text, context.measureText(text).width, room];
}"""
ARROW_PX = 20  # the drop-down arrow Chromium draws inside the picker's padding box


def test_the_assign_picker_shows_the_whole_assignee_on_a_320_px_phone(
    story: Story, chromium: Browser
) -> None:
    # "Alice Arche" showed for "Alice Archer (me)": the label and the button beside it left
    # the picker 130 px.
    narrow = {**PHONE, "viewport": {"width": 320, "height": 640}}
    context, page = signed_in(chromium, story.url, story.admin, "/", **narrow)
    page.goto(f"/tickets/{story.ticket}")
    text, needed, room = page.locator("#assign-to").evaluate(PICKER_ROOM)
    assert text == "Ada Admin (me)"
    assert needed + ARROW_PX <= room, (text, needed, room)
    button = page.get_by_role("button", name="Assign", exact=True).bounding_box()
    picker = page.locator("#assign-to").bounding_box()
    assert button is not None and picker is not None
    assert abs(button["y"] - picker["y"]) < 2  # the button still beside its picker
    context.close()


# How many of each comment's reaction buttons sit on each of its rows (by their tops).
REACTION_ROWS = """forms => forms.map(form => {
    const rows = new Map();
    for (const button of form.querySelectorAll(".reaction")) {
        const top = Math.round(button.getBoundingClientRect().top);
        rows.set(top, (rows.get(top) || 0) + 1);
    }
    return Array.from(rows.values());
})"""


@pytest.mark.parametrize("width", [320, 375])
def test_a_comments_reactions_wrap_into_even_rows_on_a_phone(
    story: Story, chromium: Browser, width: int
) -> None:
    # At 320 px five reactions filled a row and the sixth sat alone on the next one.
    narrow = {**PHONE, "viewport": {"width": width, "height": 640}}
    context, page = signed_in(
        chromium, story.url, story.admin, f"/tickets/{story.ticket}", **narrow
    )
    rows = page.locator(".reactions").evaluate_all(REACTION_ROWS)
    assert rows, "no reactions on the page: the test shows nothing"
    expected = [3, 3] if width == 320 else [6]
    assert {tuple(r) for r in rows} == {tuple(expected)}, rows
    assert too_small(page, ".reactions") == []
    context.close()


def test_the_admin_pages_cards_are_as_wide_as_every_other_pages_content(
    story: Story, chromium: Browser
) -> None:
    # The settings' cards stopped at 38rem under a 52rem page: a narrower column than the
    # ticket list, the ticket and the notification center beside it.
    context, page = signed_in(chromium, story.url, story.admin, "/admin")
    content = page.locator("main").evaluate(
        """main => { const style = getComputedStyle(main);
            return main.clientWidth - parseFloat(style.paddingLeft)
                - parseFloat(style.paddingRight); }"""
    )
    cards = page.locator("main form.card").evaluate_all(
        "forms => forms.map(form => form.getBoundingClientRect().width)"
    )
    assert len(cards) == 3
    assert all(abs(width - content) < 1 for width in cards), (cards, content)
    page.goto("/")
    ticket_row = page.locator(".tickets li").first.bounding_box()
    assert ticket_row is not None and abs(ticket_row["width"] - content) < 1
    context.close()


# Whether the notification center's two filter controls look alike: each one's corners,
# background and the parts of its box a person sees.
LOOK = """el => { const s = getComputedStyle(el);
    return [s.borderTopLeftRadius, s.borderTopRightRadius, s.backgroundColor, s.boxShadow]; }"""


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_unread_only_is_a_switch_apart_from_the_type_filters(
    story: Story, chromium: Browser, device: str
) -> None:
    # "Unread only" was a fifth pill after the four types, read as one more type.
    options = PHONE if device == "phone" else {"viewport": {"width": 1280, "height": 800}}
    context, page = signed_in(chromium, story.url, story.admin, "/notifications", **options)
    filters = page.get_by_role("navigation", name="Filter notifications")
    types = filters.get_by_role("group", name="Type").get_by_role("link")
    expect(types).to_have_text(["All types", "Assignments", "Mentions", "Ticket updates"])
    show = filters.get_by_role("group", name="Show")
    expect(show.get_by_role("link")).to_have_text(["All", "Unread only"])
    unread = show.get_by_role("link", name="Unread only")
    # Not drawn as a type: other corners (a joined segment, not a pill), apart from them.
    assert unread.evaluate(LOOK)[:2] != types.last.evaluate(LOOK)[:2]
    last_type, switch = types.last.bounding_box(), show.bounding_box()
    assert last_type is not None and switch is not None
    apart = switch["x"] - (last_type["x"] + last_type["width"]) >= 24 or (
        switch["y"] >= last_type["y"] + last_type["height"]
    )
    assert apart, (last_type, switch)
    # The chosen state is said to a screen reader and seen: the current one looks chosen.
    current = show.get_by_role("link", name="All", exact=True)
    expect(current).to_have_attribute("aria-current", "true")
    assert current.evaluate(LOOK) != unread.evaluate(LOOK)
    # By keyboard: from the last type, Tab reaches the switch, and Enter turns it.
    types.last.focus()
    page.keyboard.press("Tab")
    expect(current).to_be_focused()
    page.keyboard.press("Tab")
    expect(unread).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url("**/notifications?show=unread")
    expect(show.get_by_role("link", name="Unread only")).to_have_attribute("aria-current", "true")
    if device == "phone":
        assert too_small(page, "#center") == []
    context.close()
