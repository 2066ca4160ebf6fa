"""The demo helpdesk's day, as stories: one ticket each, with its whole thread.

A story is what a helpdesk really sees: a customer's question whose subject fits it, the
assigned agent's answer, an internal comment that @mentions a colleague, the colleague's
answer or emoji reaction, the customer's follow-up, and often a resolution (sometimes
reopened). Every text is written once, for its ticket, so nothing repeats and no refund
answer lands on a webhook ticket.

:data:`HISTORY` is played in full when the demo's database is seeded: it gives every agent
an assignment, a mention and a customer reply or reaction. :data:`LIVE` is what the
simulator plays while the tray runs, step by step and interleaved, mostly about ``alice``
(the agent the tray signs in as). Both are data only; :mod:`notifier.server.demo` plays them
through the same action functions as the REST API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ASSIGNEE: Final = ""  # in a step: whoever the ticket is assigned to


@dataclass(frozen=True, slots=True)
class Answer:
    """The assignee answers the customer (a reply the customer sees; notifies no agent)."""

    text: str


@dataclass(frozen=True, slots=True)
class CustomerReply:
    """The customer writes again (notifies the assignee: a customer reply)."""

    text: str


@dataclass(frozen=True, slots=True)
class Note:
    """An internal comment by ``author`` (a username, or :data:`ASSIGNEE`); each @username
    in it notifies that agent."""

    author: str
    text: str


@dataclass(frozen=True, slots=True)
class React:
    """``who`` reacts with ``emoji`` to the story's latest internal comment (notifies its
    author)."""

    who: str
    emoji: str


@dataclass(frozen=True, slots=True)
class Resolve:
    """The assignee resolves the ticket."""


@dataclass(frozen=True, slots=True)
class Reopen:
    """The customer reopens the resolved ticket, saying why (notifies the assignee)."""

    text: str


Step = Answer | CustomerReply | Note | React | Resolve | Reopen


@dataclass(frozen=True, slots=True)
class Story:
    """One ticket: ``customer`` asks ``question`` under ``subject``; ``assigned_by`` gives it
    to ``assignee``, or, when ``assigned_by`` is None, the ``team``'s round-robin picks the
    agent (then the steps name the agent :data:`ASSIGNEE`)."""

    subject: str
    customer: str  # the customer's e-mail address (their username)
    question: str
    steps: tuple[Step, ...]
    assignee: str = ASSIGNEE
    assigned_by: str | None = None
    team: str | None = None


HISTORY: Final[tuple[Story, ...]] = (
    Story(
        "Refund for a double charge on order 4417",
        "maria@example.com",
        "Hi, my card was charged twice for order 4417 on 3 March (2 × €49). Could you refund"
        " the duplicate charge?",
        assignee="alice",
        assigned_by="bea",
        steps=(
            Answer(
                "Hi Maria, sorry about that. I can see both charges and have asked our billing"
                " team to refund the second one."
            ),
            Note(
                "alice",
                "@dana can you refund the duplicate payment on order 4417? Same card, 40"
                " seconds apart.",
            ),
            React("dana", "👍"),
            Note(
                "dana",
                "Refunded €49 for order 4417, reference RF-20931. @alice it takes 3–5 business"
                " days to reach the card.",
            ),
            CustomerReply(
                "Thank you! Will the refund show as a separate line on my card statement?"
            ),
            Answer("Yes: as a credit of €49 from Example Shop with the reference RF-20931."),
            Resolve(),
        ),
    ),
    Story(
        "Webhook deliveries failing with timeouts",
        "tom@example.com",
        "Since yesterday 14:00 our endpoint has received no webhooks. The delivery log in"
        " the dashboard says 'timeout after 10 s' for every attempt.",
        assignee="bea",
        assigned_by="alice",
        steps=(
            Answer(
                "Hi Tom, on our side your endpoint accepts the connection and then does not"
                " answer within 10 seconds. Did anything change on your server yesterday?"
            ),
            CustomerReply(
                "We moved the endpoint behind a new load balancer yesterday morning. Could"
                " that be it?"
            ),
            Note(
                "bea",
                "@carl does the webhook sender follow redirects? Tom's new load balancer"
                " probably answers plain HTTP with a 301 to HTTPS.",
            ),
            Note(
                "carl",
                "It does not follow redirects, on purpose. @bea ask them to register the"
                " https:// URL directly.",
            ),
            React("bea", "🎉"),
            Answer(
                "Our webhook sender does not follow redirects. Please change the endpoint in"
                " Settings → Webhooks to its https:// address and press 'Send test event'."
            ),
            CustomerReply(
                "Changed it, and the test event arrived. The queued deliveries are coming in now."
            ),
            Resolve(),
        ),
    ),
    Story(
        "SSO sign-in loops back to the login page",
        "yuki@example.com",
        "Since we switched to Okta single sign-on, our users are sent back to the login page"
        " after entering their Okta password. No error message is shown.",
        assignee="carl",
        assigned_by="bea",
        steps=(
            Answer(
                "Hi Yuki, could you send us the SAML response from your browser's developer"
                " tools (Network tab, the POST to /sso/acs)? Please remove any passwords first."
            ),
            CustomerReply(
                "Attached the SAML response. I noticed the NameID is an employee number, not"
                " the e-mail address."
            ),
            Note(
                "carl",
                "Found it: their NameID is a persistent ID and we match users by e-mail. @erin"
                " is the e-mail attribute mapping for SSO still behind a feature flag?",
            ),
            Note(
                "erin",
                "Yes, sso_attribute_mapping. I turned it on for Yuki's workspace, @carl.",
            ),
            React("carl", "❤️"),
            Answer(
                "We enabled e-mail attribute mapping for your workspace. In Okta, add an"
                " attribute statement named 'email' with the value user.email, then try again."
            ),
            CustomerReply("That fixed it, everyone can sign in now. Thanks, Carl!"),
            Resolve(),
        ),
    ),
    Story(
        "Invoice INV-2291 shows our old company address",
        "sam@example.org",
        "Our invoice INV-2291 for February still shows our old address in Leeds. Our"
        " accountant needs an invoice with the new Manchester address.",
        assignee="dana",
        assigned_by="alice",
        steps=(
            Answer(
                "Hi Sam, I have updated the billing address on your account. Shall I reissue"
                " INV-2291 as well, or change only future invoices?"
            ),
            CustomerReply("Please reissue INV-2291 too; our accountant can't book it otherwise."),
            Note(
                "dana",
                "@bea reissuing an invoice from a closed month needs a team lead's approval. OK"
                " to reissue INV-2291 for Sam Okafor?",
            ),
            React("bea", "✅"),
            Answer(
                "Done: the corrected invoice is attached as INV-2291-R1, and the original is"
                " cancelled."
            ),
            Resolve(),
            Reopen(
                "Sorry to reopen: the reissued invoice still shows our old VAT number,"
                " GB 123 4567 89."
            ),
        ),
    ),
    Story(
        "Bug: CSV export of orders contains only the header row",
        "lars@example.com",
        "When I export last month's orders to CSV, the file contains only the header row."
        " The orders page shows 312 orders for that month.",
        assignee="erin",
        assigned_by="carl",
        steps=(
            Answer(
                "Hi Lars, thanks for the report. Does it also happen for a shorter range, say"
                " one week?"
            ),
            CustomerReply(
                "One week works. Anything longer than about 20 days gives the empty file."
            ),
            Note(
                "erin",
                "Reproduced: the export job times out after 30 s and writes only the header."
                " @carl is that the missing index on orders.created_at?",
            ),
            Note(
                "carl",
                "@erin yes, the index ships in tomorrow's release. Until then, ranges under 20"
                " days work.",
            ),
            React("erin", "👀"),
            Answer(
                "It is a bug on our side: long exports time out. The fix ships tomorrow; until"
                " then, please export the month in two halves."
            ),
        ),
    ),
    Story(
        "Two-factor codes arrive after they expire",
        "priya@example.net",
        "Our staff get their two-factor SMS codes 3–4 minutes late, after the code has"
        " already expired. It started on Monday.",
        assignee="alice",
        assigned_by="bea",
        steps=(
            Answer(
                "Hi Priya, our SMS provider reports delays to some carriers since Monday."
                " Switching your staff to an authenticator app avoids SMS altogether; would"
                " that work for you?"
            ),
            Note(
                "bea",
                "@alice the SMS provider's status page says the delays were fixed this morning.",
            ),
            React("carl", "👍"),
            CustomerReply(
                "Codes arrive within seconds again today. We will still move our admins to an"
                " authenticator app."
            ),
            Answer(
                "Glad to hear it. The set-up guide for authenticator apps is under Settings →"
                " Security → Two-factor."
            ),
            Resolve(),
            Reopen("The delays are back since 9:00 this morning; codes take 5 minutes again."),
        ),
    ),
)

LIVE: Final[tuple[Story, ...]] = (
    Story(
        "Refund after cancelling the annual plan",
        "tom@example.com",
        "I upgraded to the annual plan by mistake on Friday and cancelled on Monday. Can I"
        " get a refund of the €348?",
        assignee="alice",
        assigned_by="dana",
        steps=(
            Note(
                "alice",
                "@dana the annual plan was cancelled within the 14-day window; can billing"
                " refund the full €348?",
            ),
            React("dana", "✅"),
            Answer(
                "Hi Tom, the full €348 is being refunded to your card, and you are back on the"
                " monthly plan."
            ),
            CustomerReply("Perfect, thanks for sorting that out so quickly."),
            Resolve(),
        ),
    ),
    Story(
        "SSO: new employees cannot sign in with Google Workspace",
        "maria@example.com",
        "We enabled Google Workspace single sign-on last week. Existing users are fine, but"
        " everyone who joined since then gets 'account not provisioned'.",
        assignee="alice",
        assigned_by="bea",
        steps=(
            Answer(
                "Hi Maria, new people need an account before their first SSO sign-in unless"
                " just-in-time provisioning is on. Is it enabled under Settings → SSO?"
            ),
            CustomerReply("It was off. I turned it on; should the new people try again now?"),
            Note(
                "carl",
                "@alice just-in-time provisioning applies at the next sign-in; there is no"
                " cache to clear.",
            ),
            React("alice", "👍"),
            Answer("Yes, they can try right away; their accounts are created at first sign-in."),
            CustomerReply("All five new hires are in. Thank you!"),
            Resolve(),
        ),
    ),
    Story(
        "Webhook signatures fail after rotating the secret",
        "yuki@example.com",
        "We rotated our webhook signing secret this morning, and since then every signature"
        " check on our side fails.",
        assignee="alice",
        assigned_by="carl",
        steps=(
            Note(
                "bea",
                "@alice second signature question today: do we keep signing with the old"
                " secret for an hour after a rotation?",
            ),
            Answer(
                "Hi Yuki, for one hour after a rotation each webhook is signed with both"
                " secrets. Check against either one, or wait until 11:40 when the old one"
                " expires."
            ),
            CustomerReply("We only checked against the new one. Accepting both fixed it."),
            Note(
                "alice",
                "Added the one-hour dual-signing window to the webhook FAQ, @bea, with a code"
                " sample.",
            ),
            React("bea", "❤️"),
            Resolve(),
        ),
    ),
    Story(
        "Bug: the sales dashboard shows yesterday's numbers",
        "sam@example.org",
        "At noon the sales dashboard still shows yesterday's totals; it used to update every"
        " 15 minutes.",
        assignee="alice",
        assigned_by="carl",
        steps=(
            Answer(
                "Hi Sam, thanks for telling us. The reporting pipeline is running late and our"
                " engineers are on it."
            ),
            Note(
                "alice",
                "@erin the dashboard totals for Sam's workspace stopped at 23:00 yesterday. Is"
                " the reporting job stuck?",
            ),
            Note(
                "erin",
                "@alice it was: a lock left by a failed migration. I restarted the job and the"
                " numbers are catching up.",
            ),
            React("alice", "🎉"),
            CustomerReply("The dashboard is current again, thanks."),
            Resolve(),
            Reopen("The dashboard has been stuck again since 14:00 today."),
        ),
    ),
    Story(
        "Can we get invoices in Japanese yen?",
        "yuki@example.com",
        "Our finance team in Osaka asks whether our invoices can be issued in JPY instead of EUR.",
        assignee="alice",
        assigned_by="bea",
        steps=(
            Note("alice", "@dana can we invoice an annual plan in JPY?"),
            Note(
                "dana",
                "@alice yes, from the next billing cycle, if they switch to annual billing.",
            ),
            React("alice", "✅"),
            Answer(
                "Hi Yuki, yes: from your next billing cycle your invoices can be in JPY if you"
                " move to annual billing. Shall I set that up?"
            ),
            CustomerReply("Yes please: annual billing in JPY from April."),
            Resolve(),
        ),
    ),
    Story(
        "Password reset e-mails never arrive",
        "lars@example.com",
        "I requested a password reset three times, but no e-mail arrives, and there is"
        " nothing in my spam folder either.",
        team="support",
        steps=(
            Answer(
                "Hi Lars, our mail log shows your company's mail server rejecting the password"
                " reset e-mails ('550 sender not allowed'). Could your IT allow mail from"
                " no-reply@example.com?"
            ),
            CustomerReply("IT has allowed the sender. The reset e-mail arrived and I'm back in."),
            Note(
                ASSIGNEE,
                "Third company mail filter this week that rejects no-reply@. @carl could the"
                " reset page tell people to check with their IT?",
            ),
            React("carl", "👍"),
            Resolve(),
        ),
    ),
    Story(
        "Refund for a seat we removed before the billing date",
        "priya@example.net",
        "We removed one seat on 10 March but were billed for 12 seats on the 15th. Could you"
        " refund the unused seat?",
        assignee="alice",
        assigned_by="dana",
        steps=(
            Note(
                "alice",
                "@dana the seat was removed before the billing date but still billed. Can you"
                " check the proration?",
            ),
            Note(
                "dana",
                "@alice the removal never reached billing (the sync issue from last week). I"
                " refunded €12 for the seat.",
            ),
            Answer(
                "Hi Priya, you are right: the seat removal did not reach our billing system in"
                " time. €12 is on its way back to your card."
            ),
            CustomerReply("Thanks. Will the next invoice be right?"),
            Answer("Yes, the next invoice shows 11 seats."),
            Resolve(),
        ),
    ),
    Story(
        "Mobile app closes when attaching a photo",
        "maria@example.com",
        "On Android, the app closes as soon as I pick a photo from the gallery to attach to"
        " a ticket.",
        assignee="alice",
        assigned_by="bea",
        steps=(
            Answer(
                "Hi Maria, which phone and Android version do you use? And does it happen with"
                " every photo?"
            ),
            CustomerReply("A Pixel 7 on Android 14. It seems to be only photos taken in portrait."),
            Note(
                "alice",
                "@carl Android 14: portrait photos crash the attachment picker. Rotation metadata?",
            ),
            Note(
                "carl",
                "@alice reproduced: EXIF orientation 6 crashes the resize step. The fix is in"
                " the next app release.",
            ),
            React("alice", "👀"),
            Answer(
                "We found the bug, and the fix is in the next app update. Until then, attaching"
                " photos from the web page works."
            ),
            Resolve(),
        ),
    ),
    Story(
        "API rate limit errors since this morning",
        "tom@example.com",
        "Our sync job gets '429 Too Many Requests' from the API since 08:00, though it makes"
        " fewer calls than last week.",
        assignee="alice",
        assigned_by="erin",
        steps=(
            Note(
                "erin",
                "@alice Tom's workspace moved to the new rate limiter this morning: 60 requests"
                " a minute per token instead of per workspace.",
            ),
            Answer(
                "Hi Tom, since this morning the limit is 60 requests a minute for each API"
                " token. A short pause between pages, or a second token, avoids the 429s."
            ),
            CustomerReply("We added a one-second pause between pages and the sync runs clean now."),
            React("alice", "👍"),
            Resolve(),
        ),
    ),
    Story(
        "Exporting one person's data for a GDPR request",
        "sam@example.org",
        "A customer of ours filed a GDPR access request. How do we export everything stored"
        " about one person?",
        assignee="alice",
        assigned_by="bea",
        steps=(
            Answer(
                "Hi Sam, under Settings → Privacy → Export person, enter their e-mail address;"
                " the ZIP file is ready within an hour."
            ),
            CustomerReply("The export is missing their chat conversations with our support."),
            Note(
                "alice",
                "@bea the GDPR person export leaves out chat transcripts. A known gap, or a bug"
                " for engineering?",
            ),
            Note(
                "bea",
                "A known gap, @alice: chats are exported separately, from Chat → History → Export.",
            ),
            Answer(
                "Chats are exported separately: Chat → History → Export, filtered by the same"
                " e-mail address."
            ),
            Resolve(),
        ),
    ),
)
