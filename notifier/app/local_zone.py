"""The computer's time zone, for quiet hours (an adapter: core takes the zone as an argument).

Looked up with ``tzlocal`` rather than by hand: it reads ``TZ``, then the system's own
configuration (``/etc/timezone``, the ``/etc/localtime`` link, systemd's settings; on macOS
the same link; on Windows the registry's zone, mapped to its IANA name), and gives a
:class:`~zoneinfo.ZoneInfo` with the zone's DST rules. The standard library alone has no way
to name the zone on Windows, where the only answer was the current fixed offset: quiet hours
would then drift by an hour at each DST change. ``tzdata`` provides the rules there.

When no zone can be found (a POSIX ``TZ`` rule string such as ``CET-1CEST``, or no
configuration at all), the zone is UTC and a warning says so in the log. The zone is looked
up again on every call (tzlocal caches it otherwise), so a changed system zone is seen the
next time the app asks.
"""

from __future__ import annotations

import logging
import warnings
from datetime import UTC, tzinfo

import tzlocal

log = logging.getLogger(__name__)


def local_zone() -> tzinfo:
    """The computer's time zone with its DST rules; UTC, logged, when none is found."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            zone: tzinfo = tzlocal.reload_localzone()
        except (LookupError, ValueError, OSError) as error:  # ZoneInfoNotFoundError: a KeyError
            log.warning("cannot find this computer's time zone (%s); quiet hours use UTC", error)
            return UTC
    for warning in said:
        # tzlocal's "defaulting to UTC", or a configured zone whose offset differs from the
        # system clock's: worth a line, the zone is still the best answer there is.
        log.warning("time zone: %s", warning.message)
    return zone
