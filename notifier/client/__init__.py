"""See notifier/__init__.py for the layer map.

Import hygiene: ``import httpx`` also imports ``httpx._main`` (the ``httpx`` command line),
which imports click and pygments whenever they are installed (rich too: it fails without it
and httpx falls back). None of that is used here, but it would stay in the tray app's memory
all day; a ``None`` entry in :data:`sys.modules` makes that one optional import fail, as if
the CLI extras were not installed. Left alone when httpx's CLI was already imported.
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None blocks the import
