"""The log on stderr: one line a record, and no secret in any line. A library's line (urllib3
names every request it makes, with its path and query) has the path and query of every URL
cut: a Slack or webhook URL's path is its secret. ctmonitor's own lines never name one."""

from __future__ import annotations

import logging
import re
import sys

from snapshots.wording import printable

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
OURS = "ctmonitor"
CHATTY = ("apscheduler", "alembic")  # their INFO lines are not the user's news
URL = re.compile(r"""\b(https?://[^/\s"'?#]+)[^\s"']*""")
REQUEST_LINE = re.compile(r'"([A-Z]+) [^\s"]+ (HTTP/[0-9.]+)"')  # urllib3: "POST /path HTTP/1.1"
URL_ARGUMENT = re.compile(r"""\burl=(['"]).*?\1""")  # urllib3's retries: (url='/path')
HIDDEN = "/..."


def redact(message: str) -> str:
    """A library's log message without any URL's path or query."""
    message = URL.sub(lambda m: m.group(1) + HIDDEN, message)
    message = REQUEST_LINE.sub(lambda m: f'"{m.group(1)} {HIDDEN} {m.group(2)}"', message)
    return URL_ARGUMENT.sub(f"url='{HIDDEN}'", message)


class Redacting(logging.Filter):
    """Rewrites each record as one plain line; a library's, without paths and queries."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not record.name.startswith(OURS):
            message = redact(message)
            if record.exc_info:  # a library's traceback may print a URL in full
                message += f" ({record.exc_info[0].__name__ if record.exc_info[0] else 'error'})"
                record.exc_info = None
                record.exc_text = None
        record.msg, record.args = printable(message), None
        return True


def setup(level: str) -> None:
    """Log records at level and above to stderr, redacted."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(Redacting())
    logging.basicConfig(level=level, handlers=[handler])
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLevelName(level)))
