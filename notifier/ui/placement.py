"""Where the popup opens: next to the tray icon, inside the screen's available area.

Pure geometry (QtCore value types only), so every screen edge and scale is tested without a
screen. The popup goes on the side of the icon away from the panel the icon sits in: above a
bottom panel, below a top one, right of a left one, left of a right one; it is aligned with
the icon along the panel, shrunk to fit a small screen (a 1280 × 800 screen at 2× scaling has
400 logical pixels of height), and clamped inside the available geometry, the screen minus
its panels.

Which panel: the side where the available geometry stops short of the screen and the icon is
outside it; without that (no window manager publishes a work area), the screen edge nearest
to the icon. Without the icon's geometry (a StatusNotifierItem tray tells the app only that
it was clicked, not where; Wayland), the pointer stands in for it: the click was on the
icon, so the pointer is inside the panel, and when the work area does not say how thick the
panel is, it is taken as twice the pointer's distance from the screen edge (the pointer being
about halfway across it), at least :data:`TYPICAL_PANEL` pixels.

:func:`window_room` is how large the app's windows (the settings dialog, the no-tray window)
may open on a screen: never larger than the screen, whatever the text size or scaling.
"""

from __future__ import annotations

from enum import Enum

from PySide6.QtCore import QPoint, QRect, QSize

GAP = 4  # pixels between the icon (or the panel) and the popup
TYPICAL_PANEL = 32  # a panel's thickness when nothing tells (GNOME's top bar, XFCE's panel)
MAX_PANEL = 96  # a pointer further than this from every edge is not in a panel
# The share of a screen's available area a window (the settings dialog, the no-tray window)
# may open at: the rest is for the window manager's title bar and frame, whose size is not
# known before the window is shown.
SCREEN_SHARE = 0.9


def window_room(available: QSize) -> QSize:
    """The largest size a window may open at on a screen whose available area is
    ``available`` (1280 × 720 at 2× scaling is 640 × 360)."""
    return QSize(int(available.width() * SCREEN_SHARE), int(available.height() * SCREEN_SHARE))


class Edge(Enum):
    TOP = "top"
    BOTTOM = "bottom"
    LEFT = "left"
    RIGHT = "right"


def panel_edge(target: QRect, screen: QRect, available: QRect) -> Edge:
    """The screen edge whose panel holds ``target`` (see the module docstring)."""
    outside = [
        (target.top() < available.top(), Edge.TOP),
        (target.bottom() > available.bottom(), Edge.BOTTOM),
        (target.left() < available.left(), Edge.LEFT),
        (target.right() > available.right(), Edge.RIGHT),
    ]
    for is_outside, edge in outside:
        if is_outside:
            return edge
    return _nearest_edge(target.center(), screen)[0]


def _nearest_edge(point: QPoint, screen: QRect) -> tuple[Edge, int]:
    """The screen edge nearest to ``point`` and how far it is. In a corner the point is near
    two edges; trays sit in horizontal panels far more often, so a point within half a
    panel's reach of the top or bottom means that one."""
    distances = {
        Edge.TOP: point.y() - screen.top(),
        Edge.BOTTOM: screen.bottom() - point.y(),
        Edge.LEFT: point.x() - screen.left(),
        Edge.RIGHT: screen.right() - point.x(),
    }
    horizontal = {e: distances[e] for e in (Edge.TOP, Edge.BOTTOM)}
    if min(horizontal.values()) <= MAX_PANEL // 2:
        distances = horizontal
    return min(distances.items(), key=lambda item: item[1])


def pointer_target(cursor: QPoint, screen: QRect, available: QRect) -> tuple[QRect, Edge]:
    """The icon's likely rectangle from the pointer that clicked it, and its panel's edge:
    across the panel from the pointer (see the module docstring), or the pointer alone when
    the work area says where the panel ends or the pointer is in no panel."""
    point = QRect(cursor, QSize(1, 1))
    if not available.contains(cursor) or available != screen:
        return point, panel_edge(point, screen, available)
    edge, distance = _nearest_edge(cursor, screen)
    if distance > MAX_PANEL:
        return point, edge
    thickness = max(2 * distance + 1, TYPICAL_PANEL)
    if edge is Edge.TOP:
        return QRect(cursor.x(), screen.top(), 1, thickness), edge
    if edge is Edge.BOTTOM:
        return QRect(cursor.x(), screen.bottom() - thickness + 1, 1, thickness), edge
    if edge is Edge.LEFT:
        return QRect(screen.left(), cursor.y(), thickness, 1), edge
    return QRect(screen.right() - thickness + 1, cursor.y(), thickness, 1), edge


def popup_geometry(
    preferred: QSize, anchor: QRect | None, cursor: QPoint, screen: QRect, available: QRect
) -> QRect:
    """The popup's geometry: ``preferred`` size or less, next to ``anchor`` (the tray icon's
    geometry; None or invalid when the platform does not tell, then next to the pointer at
    ``cursor``), inside ``available`` (the screen's available geometry)."""
    if anchor is not None and anchor.isValid() and not anchor.isEmpty():
        target, edge = anchor, panel_edge(anchor, screen, available)
    else:
        target, edge = pointer_target(cursor, screen, available)
    # The room on the popup's side of the icon (or of the panel, where it is known).
    room = available.adjusted(GAP, GAP, -GAP, -GAP)
    if edge is Edge.TOP:
        room.setTop(max(target.bottom() + 1, available.top()) + GAP)
    elif edge is Edge.BOTTOM:
        room.setBottom(min(target.top(), available.bottom() + 1) - GAP - 1)
    elif edge is Edge.LEFT:
        room.setLeft(max(target.right() + 1, available.left()) + GAP)
    else:
        room.setRight(min(target.left(), available.right() + 1) - GAP - 1)
    width = max(1, min(preferred.width(), room.width()))
    height = max(1, min(preferred.height(), room.height()))
    centre = target.center()
    if edge in (Edge.TOP, Edge.BOTTOM):
        # Along the panel: flush with the icon's edge on the side the screen has room.
        at_right = centre.x() >= available.center().x()
        x = target.right() + 1 - width if at_right else target.left()
        y = room.top() if edge is Edge.TOP else room.bottom() + 1 - height
    else:
        at_bottom = centre.y() >= available.center().y()
        y = target.bottom() + 1 - height if at_bottom else target.top()
        x = room.left() if edge is Edge.LEFT else room.right() + 1 - width
    x = min(max(x, room.left()), room.right() + 1 - width)
    y = min(max(y, room.top()), room.bottom() + 1 - height)
    return QRect(x, y, width, height)
