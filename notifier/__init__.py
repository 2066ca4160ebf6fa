"""notifier: a helpdesk tray notifier.

Layers, with imports pointing one way (tests/test_layers.py holds the line)::

    ui ──► app ──► sync ──► store ──► core ◄── client
                                       ▲
    server (reference helpdesk) ───────┘ (wire models, and pure core helpers for mail)

* ``core``   pure Python, stdlib only: wire models, ports, the sans-I/O sync session, quiet
             hours, toast policy, link allow-list, settings model. Time and zone are passed in.
* ``client`` talks to a helpdesk, no Qt: REST (httpx) and the stream (websockets).
* ``store``  local state and OS services, no Qt: SQLite cache, settings file, keyring,
             paths, autostart entry, the route table.
* ``sync``   the asyncio sync engine: drives core's session with a backend and the cache.
* ``app``    QtCore orchestration: controller, list model, scheduler, the local time zone.
* ``ui``     QtWidgets / QtGui: tray, badge, popup, toasts, dialogs.
* ``server`` the reference helpdesk backend; shares ``core.wire`` with the client, and for
             mail the pure core helpers (quiet hours, summary text, backoff).
* ``main``   the one composition root.
"""

__version__ = "0.1.0"
