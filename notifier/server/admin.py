"""The admin API: system settings, their audit trail, and running the retention job.

Admins are agents created with ``notifier-server add-agent NAME --admin`` (``users.is_admin``).
Every route here answers 401 without a valid token and 403 ``forbidden`` to anyone else
(other agents and customers alike). The routes are part of the app's one route table
(:meth:`notifier.server.app.HelpdeskApp.endpoints`), so OpenAPI documents them too.

* ``GET /api/v1/admin/settings``: ``{version, updated_at, updated_by, settings}``.
* ``PUT /api/v1/admin/settings``: ``{version, settings: {key: value, …}}``; only the keys given
  change, each validated (422 ``validation_failed`` naming the key, unknown keys included); a
  ``version`` other than the current one answers 409 ``conflict``. Answers the new document.
* ``GET /api/v1/admin/audit?limit=&before_id=``: who changed which setting when, newest first.
* ``POST /api/v1/admin/retention``: run the retention job now; answers what it did.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from notifier.server import repository, retention, settings
from notifier.server.app import API, Endpoint, HelpdeskApp, QueryParam
from notifier.server.repository import ActionError, User

if TYPE_CHECKING:
    from collections.abc import Sequence

ADMIN: Final = f"{API}/admin"
AUDIT_PAGE_MAX: Final = 500


class AdminApi:
    """The admin routes of one :class:`HelpdeskApp`."""

    def __init__(self, app: HelpdeskApp) -> None:
        self.app = app

    async def _admin(self, request: Request) -> User:
        user = await self.app._user(request)
        if not (user.is_agent and user.is_admin):
            raise ActionError(403, "forbidden", "this endpoint is for admins")
        return user

    async def get_settings(self, request: Request) -> Response:
        await self._admin(request)
        stored = await self.app.database.run(settings.load)
        return JSONResponse(stored.to_json())

    async def put_settings(self, request: Request) -> Response:
        user = await self._admin(request)
        data = await self.app._json(request)
        version = data.get("version")
        if version is None:
            raise ActionError(
                400, "missing_field", "version (the version of the settings you read) is required"
            )
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise ActionError(400, "invalid_field", "version must be an integer ≥ 0")
        if "settings" not in data:
            raise ActionError(400, "missing_field", "settings (the keys to change) is required")
        unknown = sorted(set(data) - {"version", "settings"})
        if unknown:
            raise ActionError(
                400, "invalid_field", f"unknown fields: {', '.join(map(repr, unknown))}"
            )
        changes = settings.validate_changes(data["settings"])
        update = functools.partial(
            settings.update, expected_version=version, actor=user.username, via="api"
        )
        stored = await self.app.database.run(update, changes)
        return JSONResponse(stored.to_json())

    async def audit(self, request: Request) -> Response:
        await self._admin(request)
        limit = HelpdeskApp._int_query(request, "limit", 100, 1, AUDIT_PAGE_MAX)
        before = HelpdeskApp._int_query(
            request, "before_id", repository.MAX_SEQ, 1, repository.MAX_SEQ
        )
        page = await self.app.database.run(settings.audit_page, limit, before)
        return JSONResponse(page)

    async def run_retention(self, request: Request) -> Response:
        await self._admin(request)
        report = await retention.run_retention(self.app.database, self.app.announce)
        return JSONResponse(report.to_json())

    def endpoints(self) -> Sequence[Endpoint]:
        errors = (401, 403)
        return [
            Endpoint(
                "GET",
                f"{ADMIN}/settings",
                self.get_settings,
                "The system settings with their version (admins)",
                "admin",
                response="SystemSettings",
                errors=errors,
                tag="admin",
            ),
            Endpoint(
                "PUT",
                f"{ADMIN}/settings",
                self.put_settings,
                "Change some system settings; `version` must be the one you read (else 409)",
                "admin",
                request="SettingsChange",
                response="SystemSettings",
                errors=(400, 401, 403, 409, 413, 422),
                tag="admin",
            ),
            Endpoint(
                "GET",
                f"{ADMIN}/audit",
                self.audit,
                "Who changed which setting, when: newest first, paged by before_id",
                "admin",
                response="AuditPage",
                query=(
                    QueryParam("limit", "page size", 1, AUDIT_PAGE_MAX, 100),
                    QueryParam(
                        "before_id",
                        "return entries with a smaller id (the last id of a page)",
                        1,
                        repository.MAX_SEQ,
                        repository.MAX_SEQ,
                    ),
                ),
                errors=(400, 401, 403),
                tag="admin",
            ),
            Endpoint(
                "POST",
                f"{ADMIN}/retention",
                self.run_retention,
                "Run the retention job now: delete expired read notifications, prune the log",
                "admin",
                response="RetentionReport",
                errors=errors,
                tag="admin",
            ),
        ]
