"""Alert channels, one class per type, kept in one table keyed by type."""

from notifiers.base import ChannelSettings, Environment, Notifier
from notifiers.console import ConsoleNotifier
from notifiers.email import EmailNotifier
from notifiers.services import AppriseNotifier
from notifiers.slack import SlackNotifier
from notifiers.webhook import WebhookNotifier

NOTIFIERS: dict[str, type[Notifier]] = {
    c.kind: c for c in (ConsoleNotifier, EmailNotifier, SlackNotifier, WebhookNotifier,
                        AppriseNotifier)
}


def build_notifiers(channels: tuple[ChannelSettings, ...], env: Environment) -> dict[str, Notifier]:
    """The configured channels, by name."""
    return {c.name: NOTIFIERS[c.type](c, env) for c in channels}
