"""Where the popup opens (notifier/ui/placement.py), on every screen edge and scale, with and
without the icon's geometry and the desktop's work area: it lies inside the available
geometry and next to the icon, never over the panel. Pure geometry, no screen needed; the
real tray hosts are in tests/test_desktop_tray.py."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, QSize

from notifier.ui.placement import GAP, Edge, panel_edge, popup_geometry
from notifier.ui.popup import POPUP_SIZE

ICON = 24
PANEL = 32
# (screen geometry in logical pixels, what it is): 1× and 2× of common screens, and a second
# monitor right of the first (its origin is not 0, 0).
SCREENS = [
    (QRect(0, 0, 1920, 1080), "1920x1080 at 1x"),
    (QRect(0, 0, 960, 540), "1920x1080 at 2x"),
    (QRect(0, 0, 640, 400), "1280x800 at 2x"),
    (QRect(1920, 0, 1280, 1024), "second monitor at 1x"),
]
EDGES = list(Edge)
ALONG = [0.0, 0.5, 1.0]  # where along the panel the icon sits: its start, middle, end


def panel_rect(screen: QRect, edge: Edge, thickness: int = PANEL) -> QRect:
    if edge is Edge.TOP:
        return QRect(screen.left(), screen.top(), screen.width(), thickness)
    if edge is Edge.BOTTOM:
        return QRect(screen.left(), screen.bottom() - thickness + 1, screen.width(), thickness)
    if edge is Edge.LEFT:
        return QRect(screen.left(), screen.top(), thickness, screen.height())
    return QRect(screen.right() - thickness + 1, screen.top(), thickness, screen.height())


def available_without(screen: QRect, panel: QRect, edge: Edge) -> QRect:
    if edge is Edge.TOP:
        return screen.adjusted(0, panel.height(), 0, 0)
    if edge is Edge.BOTTOM:
        return screen.adjusted(0, 0, 0, -panel.height())
    if edge is Edge.LEFT:
        return screen.adjusted(panel.width(), 0, 0, 0)
    return screen.adjusted(0, 0, -panel.width(), 0)


def icon_in(panel: QRect, edge: Edge, along: float) -> QRect:
    """A tray icon inside ``panel``, ``along`` of the way from its start (4 px in)."""
    inset = (panel.height() - ICON) // 2 if edge in (Edge.TOP, Edge.BOTTOM) else 0
    if edge in (Edge.TOP, Edge.BOTTOM):
        x = panel.left() + 4 + round(along * (panel.width() - ICON - 8))
        return QRect(x, panel.top() + inset, ICON, ICON)
    inset = (panel.width() - ICON) // 2
    y = panel.top() + 4 + round(along * (panel.height() - ICON - 8))
    return QRect(panel.left() + inset, y, ICON, ICON)


def along_gap(popup: QRect, icon: QRect, edge: Edge) -> int:
    """How far the icon's centre is from the popup's extent along the panel (0: within)."""
    centre = icon.center()
    if edge in (Edge.TOP, Edge.BOTTOM):
        low, high, at = popup.left(), popup.right(), centre.x()
    else:
        low, high, at = popup.top(), popup.bottom(), centre.y()
    return max(0, low - at, at - high)


def across_gap(popup: QRect, panel: QRect, edge: Edge) -> int:
    """Pixels between the panel and the popup across the panel (negative: overlapping)."""
    if edge is Edge.TOP:
        return popup.top() - (panel.bottom() + 1)
    if edge is Edge.BOTTOM:
        return panel.top() - (popup.bottom() + 1)
    if edge is Edge.LEFT:
        return popup.left() - (panel.right() + 1)
    return panel.left() - (popup.right() + 1)


def check(popup: QRect, available: QRect, icon: QRect, panel: QRect, edge: Edge) -> None:
    assert available.contains(popup), (popup, available)
    assert not popup.intersects(panel), (popup, panel)
    assert GAP <= across_gap(popup, panel, edge) <= PANEL + GAP, (popup, panel)
    # Next to the icon: its centre is within the popup's extent along the panel, or at the
    # screen's end no further away than the icon's own size.
    assert along_gap(popup, icon, edge) <= ICON, (popup, icon)


@pytest.mark.parametrize(("screen", "what"), SCREENS, ids=[what for _, what in SCREENS])
@pytest.mark.parametrize("edge", EDGES, ids=[e.value for e in EDGES])
@pytest.mark.parametrize("along", ALONG)
def test_next_to_the_icon_inside_the_work_area(
    screen: QRect, what: str, edge: Edge, along: float
) -> None:
    panel = panel_rect(screen, edge)
    available = available_without(screen, panel, edge)
    icon = icon_in(panel, edge, along)
    popup = popup_geometry(POPUP_SIZE, icon, QPoint(0, 0), screen, available)
    check(popup, available, icon, panel, edge)
    # As big as asked, unless the room beside the panel is smaller.
    assert popup.width() == min(POPUP_SIZE.width(), available.width() - 2 * GAP)
    assert popup.height() == min(POPUP_SIZE.height(), available.height() - 2 * GAP)
    assert panel_edge(icon, screen, available) is edge


# (An icon in a screen corner is as near to a side as to the top or bottom; placement takes
# the top or bottom, as trayer in the desktop test needs, so side panels away from corners.)
UNAMBIGUOUS = [
    (edge, along)
    for edge in EDGES
    for along in ALONG
    if edge in (Edge.TOP, Edge.BOTTOM) or along == 0.5
]


@pytest.mark.parametrize(("screen", "what"), SCREENS, ids=[what for _, what in SCREENS])
@pytest.mark.parametrize(("edge", "along"), UNAMBIGUOUS)
def test_without_a_work_area_the_icon_alone_decides(
    screen: QRect, what: str, edge: Edge, along: float
) -> None:
    """No window manager publishing the work area (available == the whole screen): the popup
    still opens away from the panel's edge, beside the icon."""
    panel = panel_rect(screen, edge)
    icon = icon_in(panel, edge, along)
    popup = popup_geometry(POPUP_SIZE, icon, QPoint(0, 0), screen, screen)
    assert screen.contains(popup)
    assert not popup.intersects(icon)
    assert along_gap(popup, icon, edge) <= ICON
    assert across_gap(popup, icon, edge) >= GAP  # beside the icon, on the screen's side


def test_an_icon_in_the_corner_of_a_top_panel_opens_below_it() -> None:
    """What trayer at the top right of an Xvfb screen gives (no work area): the icon is 11 px
    from the right edge and 16 from the top; the popup opened left of it, not below."""
    screen = QRect(0, 0, 1280, 800)
    icon = QRect(1257, 5, 22, 22)
    popup = popup_geometry(POPUP_SIZE, icon, QPoint(0, 0), screen, screen)
    assert popup.top() > icon.bottom()
    assert popup.left() <= icon.center().x() <= popup.right()


@pytest.mark.parametrize(("screen", "what"), SCREENS, ids=[what for _, what in SCREENS])
@pytest.mark.parametrize("edge", EDGES, ids=[e.value for e in EDGES])
@pytest.mark.parametrize("work_area", [True, False], ids=["work area", "no work area"])
@pytest.mark.parametrize("thickness", [24, 32])
def test_without_the_icon_geometry_the_pointer_in_the_panel_stands_in(
    screen: QRect, what: str, edge: Edge, work_area: bool, thickness: int
) -> None:
    """A StatusNotifierItem tray gives no geometry: the popup opens next to the pointer that
    clicked the icon, and not over the panel, with or without the desktop's work area.

    (Without a work area, a pointer in a screen corner is as near to a side panel as to a
    top or bottom one; placement takes the horizontal one, so a side panel is checked away
    from its corners there.)"""
    panel = panel_rect(screen, edge, thickness)
    available = available_without(screen, panel, edge) if work_area else screen
    corner_is_ambiguous = not work_area and edge in (Edge.LEFT, Edge.RIGHT)
    for along in [0.5] if corner_is_ambiguous else ALONG:
        icon = icon_in(panel, edge, along)
        for cursor in (icon.center(), icon.topLeft(), icon.bottomRight()):
            popup = popup_geometry(POPUP_SIZE, None, cursor, screen, available)
            assert available.contains(popup), (popup, available)
            assert not popup.intersects(panel), (cursor, popup, panel)
            assert along_gap(popup, QRect(cursor, QSize(1, 1)), edge) <= ICON


def test_a_popup_taller_than_the_screen_shrinks_instead_of_leaving_it() -> None:
    """The reported bug: at 2x on a 1280x800 screen the popup (520 high) opened at y = -40
    with its header cut off. It fits the available height now, header included."""
    screen = QRect(0, 0, 640, 400)
    panel = panel_rect(screen, Edge.BOTTOM)
    available = available_without(screen, panel, Edge.BOTTOM)
    icon = icon_in(panel, Edge.BOTTOM, 1.0)
    popup = popup_geometry(POPUP_SIZE, icon, QPoint(0, 0), screen, available)
    assert popup.top() >= available.top() + GAP
    assert popup.height() == available.height() - 2 * GAP
    assert popup.width() == POPUP_SIZE.width()


def test_the_pointer_far_from_every_edge_is_used_as_it_is() -> None:
    """No tray geometry and the pointer mid-screen (a second start brought the popup up):
    next to the pointer, inside the screen."""
    screen = QRect(0, 0, 1920, 1080)
    cursor = QPoint(900, 500)
    popup = popup_geometry(POPUP_SIZE, None, cursor, screen, screen)
    assert screen.contains(popup)
    assert along_gap(popup, QRect(cursor, QSize(1, 1)), Edge.TOP) == 0
