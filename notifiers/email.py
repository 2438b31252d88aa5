"""The email channel: multipart text + HTML over SMTP (starttls, ssl or none).

The HTML comes from a Jinja2 template with autoescape, so hostile text in a record arrives
inert; the text part is the console's wording of the same alerts (render.text_body).
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from notifiers.base import Fail, Notifier, RetryableDelivery
from notifiers.render import (
    headline,
    history_url,
    ordered,
    results_reading,
    text_body,
    title,
    trial_url,
    watch_trial_line,
)
from snapshots.fields import Field
from snapshots.wording import printable

if TYPE_CHECKING:
    from jinja2 import Environment

DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
SEVERITY_COLOURS = {"critical": "#b00020", "notable": "#b35c00", "minor": "#555555"}


@functools.cache
def templates() -> Environment:
    """The email's templates, made (and jinja2 imported) for the first email."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(loader=PackageLoader("notifiers", "templates"),
                       autoescape=select_autoescape(["html", "j2"]))


class EmailNotifier(Notifier):
    """Send each alert (or a check's digest) as one email to every address in `to`."""

    kind = "email"
    fields = {
        "host": Field(str, required=True, expect="the SMTP server's host name"),
        "port": Field(int, 0),
        "security": Field(str, "starttls", choices=("starttls", "ssl", "none")),
        "username": Field(str),
        "password": Field(str, secret=True),
        "from": Field(str, required=True, expect="an email address"),
        "to": Field(list, required=True, expect="a list of email addresses"),
    }

    @classmethod
    def check_options(cls, values: dict[str, Any], fail: Fail) -> dict[str, Any]:
        if "@" not in values["from"]:
            raise fail("from", f"expected an email address, got {values['from']!r}")
        if not values["to"] or not all(isinstance(a, str) and "@" in a for a in values["to"]):
            raise fail("to", f"expected a list of email addresses, got {values['to']!r}")
        if (values["username"] is None) != (values["password"] is None):
            raise fail("password", "expected username and password together, or neither")
        return {**values, "port": values["port"] or DEFAULT_PORTS[values["security"]]}

    def deliver(self, email: EmailMessage, key: str) -> str:
        del email["Message-ID"]  # the key's, set afresh for each try
        email["Message-ID"] = f"<{key}@ctmonitor>"
        options = self.settings.options
        try:
            with self._connect() as smtp:
                if options["username"]:
                    smtp.login(options["username"], options["password"])
                refused = smtp.send_message(email)
        except smtplib.SMTPAuthenticationError as exc:
            raise RetryableDelivery(f"SMTP login refused ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused:
            raise RetryableDelivery("SMTP refused every recipient") from None
        except smtplib.SMTPResponseException as exc:
            raise RetryableDelivery(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableDelivery(f"SMTP {_reason(exc)}") from None
        if refused:
            return f"accepted for {len(options['to']) - len(refused)} of {len(options['to'])}"
        return f"accepted by {options['host']}"

    def _connect(self) -> smtplib.SMTP:
        options = self.settings.options
        host, port = options["host"], options["port"]
        if options["security"] == "ssl":
            return smtplib.SMTP_SSL(host, port, timeout=self.env.timeout,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(host, port, timeout=self.env.timeout)
        if options["security"] == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def build(self, messages: list[dict[str, Any]]) -> EmailMessage:
        """The email: subject saying what happened (one line, whatever a record's text
        holds: a CRLF there must not add a header), text and HTML parts."""
        html = render_html(messages)
        email = EmailMessage()
        email["Subject"] = printable(title(messages))
        email["From"] = self.settings.options["from"]
        email["To"] = ", ".join(self.settings.options["to"])
        email["Date"] = formatdate(localtime=False)
        email.set_content(text_body(messages))
        email.add_alternative(html, subtype="html")
        return email


def render_html(messages: list[dict[str, Any]]) -> str:
    shown = [{**m, "changes": [{**c, "reading": results_reading(c)}
                               for c in ordered(m.get("changes", []))],
              "url": trial_url(m["nct_id"]) if m.get("nct_id") else "",
              "history_url": history_url(m["nct_id"]) if m.get("nct_id") else "",
              "headline": headline(m),
              "trial_lines": [{"nct_id": t["nct_id"], "url": t["url"],
                               "line": watch_trial_line(t).split(" — ", 1)[1]}
                              for t in m.get("trials", [])]}
             for m in messages]
    return templates().get_template("email.html.j2").render(
        headline=title(messages), messages=shown, colours=SEVERITY_COLOURS)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reason(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "server dropped the connection"
    if isinstance(exc, ConnectionRefusedError):
        return "cannot connect (connection refused)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__
