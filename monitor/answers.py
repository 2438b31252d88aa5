"""Reading the registry's answers as they arrive, within bounds a hostile or broken answer
cannot pass: a time for the whole answer, a size once unpacked (a gzip bomb stops there),
a size for one study (and so for one string in it), and a nesting depth (json's C decoder
stops at the recursion limit). Past a bound, the answer fails with one line."""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from snapshots.errors import RegistryError
from snapshots.normalise import too_deep

if TYPE_CHECKING:
    import requests

READ_BYTES = 65536
MAX_ANSWER_BYTES = 512 * 2**20  # one answer, unpacked: a page of 1,000 studies fits
MAX_STUDY_CHARS = 32 * 2**20  # one study's text (a real record is at most a few MB)
WHITESPACE = re.compile(r"[ \t\n\r]*")
# A string (perhaps cut off at the end of what has arrived) or a bracket, to find where a
# value too deep to decode ends.
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)|[\[\]{}]')
NCT_ID_IN_TEXT = re.compile(r'"nctId"\s*:\s*"(NCT[0-9]{8})"')
DECODER = json.JSONDecoder()


class UnreadableAnswer(RegistryError):
    """An answer arrived whole but cannot be read as JSON."""


class OutOfBounds(UnreadableAnswer):
    """An answer past a bound (its size, a study's size, its nesting): the request's trials
    fail, and the check goes on."""


class TooDeep(Exception):
    """A value nested deeper than json's decoder goes."""


@dataclass(frozen=True)
class Undecodable:
    """A study of a page too deep to decode, in place of its record: its trial fails alone
    (the first nctId in its text says which; in API v2 the study's own comes first)."""

    nct_id: str | None
    problem: str


class BodyReader:
    """Reads an answer's body as it arrives, each read returning what one receive gave, so
    that an answer trickling a byte a second is cut off at the deadline; a socket that goes
    quiet is cut off by the read timeout; an answer past MAX_ANSWER_BYTES unpacked is cut
    off there."""

    def __init__(self, response: requests.Response, what: str, seconds: float) -> None:
        self.response = response
        self.what = what
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.unpacked = 0

    def read(self, size: int = READ_BYTES) -> bytes:
        if time.monotonic() > self.deadline:
            raise RegistryError(f"registry: answer for {self.what} took longer than "
                                f"{self.seconds:g} s; stopped reading it")
        import requests
        import urllib3

        try:
            chunk = bytes(self.response.raw.read1(size, decode_content=True))
        except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise RegistryError(f"registry: answer for {self.what} broke off "
                                f"({type(exc).__name__})") from None
        self.unpacked += len(chunk)
        if self.unpacked > MAX_ANSWER_BYTES:
            raise OutOfBounds(f"registry: answer for {self.what} is larger than "
                              f"{MAX_ANSWER_BYTES // 2**20} MB unpacked; stopped reading it")
        return chunk

    def whole(self) -> bytes:
        try:
            return b"".join(iter(self.read, b""))
        finally:
            self.response.close()


class PageReader(BodyReader):
    """Reads a /studies page as it arrives, one study at a time: each is decoded as soon as
    its text is whole, so neither the page nor its 1,000 records stand in memory at once.
    The page's other keys (nextPageToken) are read on the way."""

    def __init__(self, response: requests.Response, what: str, seconds: float) -> None:
        super().__init__(response, what, seconds)
        self.count = 0
        self.token: str | None = None

    def studies(self) -> Iterator[Any]:
        """The page's studies (an Undecodable for one too deep to decode)."""
        text = Text(self.read, self.what)
        try:
            text.take("{")
            while text.peek() != "}":
                key = text.value()
                text.take(":")
                if key == "studies":
                    yield from self._array(text)
                else:
                    value = text.value()
                    if key == "nextPageToken" and isinstance(value, str) and value:
                        self.token = value
                if text.take(",}") == "}":
                    break
        except TooDeep:
            raise text.bound("is nested too deeply to read") from None
        finally:
            self.response.close()

    def _array(self, text: Text) -> Iterator[Any]:
        text.take("[")
        if text.peek() == "]":
            text.take("]")
            return
        while True:
            try:
                study = text.value(MAX_STUDY_CHARS)
            except TooDeep:
                found = NCT_ID_IN_TEXT.search(text.skip(MAX_STUDY_CHARS))
                study = Undecodable(found.group(1) if found else None, str(too_deep()))
            self.count += 1
            yield study
            if text.take(",]") == "]":
                return

    def next_page_token(self) -> str | None:
        return self.token


class Text:
    """The decoded text of an answer, read as far as the next value needs and no further;
    what has been read past is dropped."""

    def __init__(self, read: Callable[[], bytes], what: str) -> None:
        self.read = read
        self.what = what
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.at = 0
        self.ended = False

    def fail(self, problem: str = "is not JSON") -> UnreadableAnswer:
        return UnreadableAnswer(f"registry: answer for {self.what} {problem}")

    def bound(self, problem: str) -> OutOfBounds:
        return OutOfBounds(f"registry: answer for {self.what} {problem}")

    def more(self, at_least: int) -> None:
        """Read until at_least characters wait past self.at, or the answer ends."""
        pieces = [self.buffer[self.at:]]
        waiting = len(pieces[0])
        while waiting < at_least and not self.ended:
            chunk = self.read()
            self.ended = not chunk
            try:
                piece = self.decoder.decode(chunk, final=self.ended)
            except UnicodeDecodeError:
                raise self.fail("is not UTF-8 text") from None
            pieces.append(piece)
            waiting += len(piece)
        self.buffer, self.at = "".join(pieces), 0

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end)."""
        while True:
            self.at = WHITESPACE.match(self.buffer, self.at).end()  # type: ignore[union-attr]
            if self.at < len(self.buffer) or self.ended:
                return self.buffer[self.at:self.at + 1]
            self.more(1)

    def take(self, allowed: str) -> str:
        found = self.peek()
        if not found or found not in allowed:
            raise self.fail()
        self.at += 1
        return found

    def value(self, limit: int = MAX_STUDY_CHARS) -> Any:
        """The next JSON value, whole; its text may be at most limit characters."""
        self.peek()
        while True:
            try:
                value, end = DECODER.raw_decode(self.buffer, self.at)
            except json.JSONDecodeError:
                end = None
            except RecursionError:
                raise TooDeep from None
            except ValueError:  # an integer of more digits than Python reads
                raise self.bound("holds a number too long to read") from None
            if end is not None and (end < len(self.buffer) or self.ended):
                self.at = end
                return value
            if self.ended:
                raise self.fail()
            waiting = len(self.buffer) - self.at
            if waiting > limit:
                raise self.bound(f"holds a study larger than {limit // 2**20} MB")
            self.more(min(2 * waiting, limit + 1) + READ_BYTES)  # doubling: linear in all

    def skip(self, limit: int) -> str:
        """Past the value (an array or object) that starts here, however deep; its text."""
        depth, scanned = 0, 0  # scanned: characters past self.at already looked at
        while True:
            for token in TOKEN.finditer(self.buffer, self.at + scanned):
                if token.group() in "[{":
                    depth += 1
                elif token.group() in "]}":
                    depth -= 1
                elif token.end() == len(self.buffer) and not self.ended:
                    break  # a string cut off where the answer has arrived so far
                scanned = token.end() - self.at
                if depth == 0:
                    text, self.at = self.buffer[self.at:token.end()], token.end()
                    return text
            else:
                scanned = len(self.buffer) - self.at
            if self.ended:
                raise self.fail()
            if scanned > limit:
                raise self.bound(f"holds a study larger than {limit // 2**20} MB")
            self.more(scanned + READ_BYTES)
