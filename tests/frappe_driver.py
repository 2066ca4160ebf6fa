"""Drives a Frappe Helpdesk site over REST the way people and the web app do, for the Frappe
adapter's tests: against the stand-in (tests/frappe_standin.py) or a real site (the contract
run; an administrator's API key creates the test agents and tickets).

Every call is one of the requests recorded in shared/frappe-helpdesk-observed.md, or plain
Frappe resource calls an administrator makes (create User, HD Agent, HD Ticket; generate
keys; delete a notification). Synchronous httpx: the stand-in runs on a thread of its own.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

NOTIFICATION = "HD Notification"


@dataclass(frozen=True)
class Account:
    email: str
    full_name: str
    api_key: str
    api_secret: str
    password: str


class UserClient:
    """Requests as one user (token auth), e.g. agent A assigning a ticket to agent B."""

    def __init__(self, url: str, api_key: str, api_secret: str, site_name: str | None) -> None:
        headers = {"Authorization": f"token {api_key}:{api_secret}", "Accept": "application/json"}
        if site_name:
            headers["X-Frappe-Site-Name"] = site_name
        self.client = httpx.Client(
            base_url=url, headers=headers, timeout=httpx.Timeout(20.0), trust_env=False
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()

    def assign(self, ticket: str, agent: str) -> None:
        """HDTicket.assign_agent (observed S2): an Assignment notification for ``agent``."""
        self.call(
            "POST",
            "/api/method/run_doc_method",
            json={"dt": "HD Ticket", "dn": ticket, "method": "assign_agent",
                  "args": {"agent": agent}},
        )  # fmt: skip

    def mention(self, ticket: str, who: list[Account], text: str = "please take a look") -> None:
        """HDTicket.new_comment with frappe-ui's mention markup (observed S3/S11)."""
        spans = " ".join(
            f'<span class="mention" data-type="mention" data-id="{a.email}"'
            f' data-label="{a.full_name}">@{a.full_name}</span>'
            for a in who
        )
        self.call(
            "POST",
            "/api/method/run_doc_method",
            json={"dt": "HD Ticket", "dn": ticket, "method": "new_comment",
                  "args": {"content": f"<p>{spans} {text}</p>", "attachments": []}},
        )  # fmt: skip

    def clear(self, **arguments: str) -> Any:
        """helpdesk's clear (observed S5/S6/S12): all, ``ticket=`` or ``comment=``."""
        return self.call(
            "POST",
            "/api/method/helpdesk.helpdesk.doctype.hd_notification.utils.clear",
            json=arguments,
        )

    def set_read(self, name: str, read: bool) -> Any:
        """PUT one row (observed S7); works on other agents' rows too (S8)."""
        return self.call(
            "PUT", f"/api/resource/{quote(NOTIFICATION)}/{quote(name)}", json={"read": int(read)}
        )

    def close(self) -> None:
        self.client.close()


class SiteDriver:
    """The administrator's side: test agents, tickets, and a look at the site's rows."""

    def __init__(
        self, url: str, admin_key: str, admin_secret: str, site_name: str | None = None
    ) -> None:
        self.url = url
        self.site_name = site_name
        self.admin = UserClient(url, admin_key, admin_secret, site_name)
        self._clients: list[UserClient] = [self.admin]

    def create_user(
        self, full_name: str | None = None, *, agent: bool = True, password: str | None = None
    ) -> Account:
        """A new user with an API key; an agent (HD Agent, Agent role) unless ``agent=False``."""
        tag = secrets.token_hex(4)
        email = f"notifier-test-{tag}@example.com"
        first, _space, last = (full_name or f"Agent {tag}").partition(" ")
        password = password or f"Pw-{secrets.token_hex(8)}"
        self.admin.call(
            "POST",
            "/api/resource/User",
            json={"email": email, "first_name": first, "last_name": last,
                  "send_welcome_email": 0, "new_password": password,
                  "roles": [{"role": "Agent"}] if agent else []},
        )  # fmt: skip
        if agent:
            self.admin.call("POST", f"/api/resource/{quote('HD Agent')}", json={"user": email})
        secret = self.admin.call(
            "POST", "/api/method/frappe.core.doctype.user.user.generate_keys", json={"user": email}
        )["message"]["api_secret"]
        key = self.admin.call("GET", f"/api/resource/User/{quote(email)}")["data"]["api_key"]
        return Account(email, " ".join(p for p in (first, last) if p), key, secret, password)

    def as_user(self, account: Account) -> UserClient:
        client = UserClient(self.url, account.api_key, account.api_secret, self.site_name)
        self._clients.append(client)
        return client

    def create_ticket(self, subject: str) -> str:
        data = self.admin.call(
            "POST",
            f"/api/resource/{quote('HD Ticket')}",
            json={"subject": subject, "description": f"<p>{subject}</p>",
                  "raised_by": "notifier-contract-customer@example.com"},
        )["data"]  # fmt: skip
        return str(data["name"])

    def allow_mentions(self) -> None:
        """Mentions fail with 501 OutgoingEmailError without an e-mail account (S3)."""
        self.admin.call(
            "PUT",
            f"/api/resource/{quote('HD Settings')}/{quote('HD Settings')}",
            json={"skip_email_workflow": 1},
        )

    def notifications_of(self, email: str) -> list[dict[str, Any]]:
        """Every HD Notification row addressed to ``email`` (name, read, type, message)."""
        return list(
            self.admin.call(
                "GET",
                f"/api/resource/{quote(NOTIFICATION)}",
                params={
                    "fields": json.dumps(["name", "read", "notification_type", "message",
                                          "reference_ticket", "reference_comment", "user_from"]),
                    "filters": json.dumps([["user_to", "=", email]]),
                    "order_by": "creation asc",
                    "limit_page_length": 0,
                },
            )["data"]
        )  # fmt: skip

    def delete_notification(self, name: str) -> None:
        self.admin.call("DELETE", f"/api/resource/{quote(NOTIFICATION)}/{quote(name)}")

    def close(self) -> None:
        for client in self._clients:
            client.close()
