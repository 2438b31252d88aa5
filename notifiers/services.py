"""The apprise channel: any of the 100+ services apprise speaks (Teams workflows, Telegram,
ntfy, Discord, Matrix, mail...), given as apprise URLs.

apprise 1.x (pinned below 2): 2.0 changed what notify returns, and 1.x is kept for security
fixes for years. Each URL is its own service, sent to and answered apart, so the answer
names each one; a retry (in the same process) skips the services that already took the
alert. The body is Markdown with the Slack message's content, the title the email's
subject line. apprise loads only when an apprise channel is configured.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from notifiers.base import Fail, Notifier, RetryableDelivery
from notifiers.render import Dialect, alert_head, alert_items, title
from snapshots.fields import Field
from snapshots.wording import plural, printable, truncate

BODY_LIMIT = 3800  # Telegram takes 4,096; Teams and Discord (2,000) split what is longer
TITLE_LIMIT = 200
MARKS = {"critical": "🔴 **critical**", "notable": "🟠 **notable**", "minor": "⚪ minor"}
MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")


def markdown_text(text: str) -> str:
    """A record's text as Markdown shows it, not as Markdown reads it."""
    return MARKDOWN.sub(r"\\\1", printable(text))


MARKDOWN_DIALECT = Dialect(markdown_text, lambda url, text: f"[{text}]({url})",
                           lambda text: f"**{text}**", MARKS, item="- ", indent="    ")


class AppriseNotifier(Notifier):
    """Send each alert to every apprise URL of the channel."""

    kind = "apprise"
    fields = {"urls": Field(list, required=True, secret=True,
                            expect='a list of apprise URLs such as "tgram://TOKEN/CHAT"')}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taken: dict[str, set[int]] = {}  # an alert's key -> the services that took it

    @classmethod
    def check_options(cls, values: dict[str, Any], fail: Fail) -> dict[str, Any]:
        urls = values["urls"]
        if not urls:
            raise fail("urls", "expected at least one apprise URL")
        for i, url in enumerate(urls):
            if not isinstance(url, str) or service(url) is None:
                scheme = url.split("://", 1)[0] if isinstance(url, str) and "://" in url else ""
                raise fail(f"urls[{i}]", "apprise cannot read this URL" + (
                    f" (scheme {scheme!r}; see its list of services)" if scheme.isalnum()
                    else " (expected SCHEME://...)"))
        return values

    def build(self, messages: list[dict[str, Any]]) -> tuple[str, str]:
        return truncate(printable(title(messages)), TITLE_LIMIT), markdown_body(messages)

    def deliver(self, message: tuple[str, str], key: str) -> str:
        from apprise import LogCapture, NotifyFormat

        heading, body = message
        taken = self.taken.setdefault(key, set())
        said, failed = [], []
        for i, url in enumerate(self.settings.options["urls"]):
            plugin = service(url)
            name = plugin.url(privacy=True).split("?")[0] if plugin is not None else f"urls[{i}]"
            if i in taken:
                said.append(f"{name}: sent before")
                continue
            if plugin is None:
                failed.append(f"{name}: apprise cannot read it")
                continue
            plugin.socket_connect_timeout = plugin.socket_read_timeout = self.env.timeout
            with LogCapture(level=logging.WARNING) as log:
                sent = plugin.notify(body=body, title=heading, body_format=NotifyFormat.MARKDOWN)
            if sent:
                taken.add(i)
                said.append(f"{name}: sent")
            else:
                why = log.getvalue().strip().splitlines()
                failed.append(f"{name}: {why[-1] if why else 'not sent'}")
        if failed:
            raise RetryableDelivery(f"{plural(len(failed), 'service')} of "
                                    f"{len(self.settings.options['urls'])} did not take it: "
                                    + "; ".join(failed))
        self.taken.pop(key, None)
        return "; ".join(said)


def service(url: str) -> Any:
    """apprise's plugin for one URL, None when apprise cannot read it."""
    import apprise

    return apprise.Apprise.instantiate(url, suppress_exceptions=True) or None


def markdown_body(messages: list[dict[str, Any]]) -> str:
    """The alerts in Markdown, most severe first, within BODY_LIMIT ("+N more")."""
    lines: list[str] = []
    for message in messages:
        lines += [*(lines and [""]), *alert_head(message, MARKDOWN_DIALECT).split("\n"),
                  *alert_items(message, MARKDOWN_DIALECT)]
    kept, size = [], 0
    for n, line in enumerate(lines):
        if size + len(line) + 1 > BODY_LIMIT - 80:
            left = sum(1 for x in lines[n:] if x.startswith("- "))
            kept.append(f"+{plural(left, 'more change')} (see `ctmonitor history`)")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)
