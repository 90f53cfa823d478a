"""A JSON catalog file read as a stream by ijson: its shape checked in one pass, then its products
built one at a time in another, neither holding more than a piece of the file's parse at once.

ijson (its C backend, yajl2_c, where its wheel has it; `ijson.backend_name` says which) reads what
Python's json reads, but for four things this module makes up for:
- NaN, Infinity and -Infinity, which JSON has no words for: each outside a string is fed to ijson as
  a number that no float holds either, standing for it (`non_finite_word` names it back), put in
  place in each piece of the file it is fed (`_fed`);
- a number whose exponent is past Decimal's (over 18 digits): ijson refuses it, where Python's json
  read 0.0 for one too small (1e-99999999999999999999); it is fed 0.0. One too large stays refused:
  no float holds it;
- where a file stops being JSON: ijson does not say, so the file is read again up to there (an
  error path only), and the place given as Python's json gives it;
- a limit to nesting: Python's json stopped at its stack's limit, ijson has none.

Numbers come as ijson gives them with use_float=False: an int, or a Decimal for a number with a
fraction or an exponent (which says, as a float would not, that 1e999 is too large for one).

What still differs, in strings no database stores anyway (saving them failed): ijson refuses a
lone low surrogate escape (\\udc00) as not JSON, and would read a lone high one (\\ud800) as "?",
a character lost unsaid; it is fed a lone low one in its place, and refused the same.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import chain
from typing import Any

import ijson
from ijson.utils import sendable_list

# ijson is fed this many bytes of the file at a time, and its events are read a piece at a time.
PIECE_BYTES = 64 * 1024

# How deeply a file may nest lists and objects, the file's own list or object counted. Python's json
# stopped at its stack's limit (1,000 frames, less its caller's), and a value nested that deeply
# would meet the same limit later, pickled or saved; ijson has no limit, and a file of nothing but
# brackets would be built as millions of nested lists. A product in a list, with attributes, takes 3.
DEPTH_MOST = 500

_BOM_LENGTH = len(codecs.BOM_UTF8)

# Each word as ijson is fed it: a number no float holds, which is what the word stands for. A file
# that writes one of these very numbers is told of an unstorable number all the same, under the word.
_STAND_INS = {b"NaN": b"1e99999999999991", b"Infinity": b"1e99999999999992", b"-Infinity": b"-1e99999999999992"}
# By the Decimal's text: hashing a Decimal of so large an exponent took microseconds, a word each.
_WORD_OF_STAND_IN = {str(Decimal(number.decode())): word.decode() for word, number in _STAND_INS.items()}

# What a number or a word (true, NaN) is made of: ijson knows it has ended only at the next character.
_TOKEN_BYTES = frozenset(b"0123456789+-.eEabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN_CLASS = rb"[0-9A-Za-z+\-.]"
_TOKEN_RUN = re.compile(_TOKEN_CLASS + rb"*")


def _alone(word: bytes) -> bytes:
    # The word, not run into a number or another word (12NaN, NaNa: not JSON, left for ijson to
    # refuse). The word first, then what is before it: a pattern that begins with its word is
    # searched for as a string, one that begins with a lookbehind tried at every byte.
    return re.escape(word) + rb"(?<!" + _TOKEN_CLASS + re.escape(word) + rb")(?!" + _TOKEN_CLASS + rb")"


# -Infinity before Infinity: the - is a token byte, so the second never takes the first's word.
_WORD_ALONE = {word: re.compile(_alone(word)) for word in (b"-Infinity", b"Infinity", b"NaN")}
_ANY_WORD_ALONE = re.compile(b"|".join(_alone(word) for word in _WORD_ALONE))

# An exponent of 19 digits or more: past what Decimal (so ijson) reads. Python's json read a number
# with one as 0.0 where the exponent is negative or the number zero, else as an infinity.
_LONG_EXPONENT = re.compile(rb"[eE][-+]?0*[1-9][0-9]{18}")
_ZERO = re.compile(rb"-?0(?:\.0+)?")
_LONE_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")

# What ijson raises on what it cannot read: JSONError; a number it cannot hold, ValueError (an
# integer of over 4,300 digits: its C backend then raises SystemError) or decimal's InvalidOperation.
_REFUSALS = (ijson.JSONError, ValueError, ArithmeticError, SystemError)

_STARTS = frozenset({"start_map", "start_array"})
_ENDS = frozenset({"end_map", "end_array"})

# Python's json's number, and its words: how much of a token it reads before it stops.
_NUMBER = re.compile(rb"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_WORDS = (b"true", b"false", b"null", b"NaN", b"Infinity", b"-Infinity")


class Unreadable(Exception):
    """The file stops being JSON at byte `offset`; `number` (its text) where ijson reads a number
    there but cannot hold it: an integer of over 4,300 digits, an exponent past Decimal's."""

    def __init__(self, offset: int, number: str | None = None) -> None:
        super().__init__(offset, number)
        self.offset = offset
        self.number = number


class TooDeep(Exception):
    """The file nests lists or objects deeper than DEPTH_MOST."""


class NotProducts(Exception):
    """The file is JSON, but neither a list nor an object with a "products" list."""


def non_finite_word(value: Decimal) -> str | None:
    """NaN, Infinity or -Infinity, where `value` (a number no float holds) stands for one."""
    return _WORD_OF_STAND_IN.get(str(value))


def text_start(content: bytes) -> int:
    """Where the text begins: after a byte order mark, which Python's json never saw either."""
    return _BOM_LENGTH if content.startswith(codecs.BOM_UTF8) else 0


def line_and_column(content: bytes, offset: int) -> tuple[int, int]:
    """The line and column (from 1, in characters, as Python's json counts them) of byte `offset`."""
    start = text_start(content)
    line_start = max(content.rfind(b"\n", start, offset) + 1, start)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    view = memoryview(content)
    characters = sum(
        len(decoder.decode(view[piece:min(piece + PIECE_BYTES, offset)]))
        for piece in range(line_start, offset, PIECE_BYTES)
    )
    return content.count(b"\n", start, offset) + 1, characters + 1


@dataclass
class Shape:
    """Where a file's products are: `products_key` 0, the file is a list of them; n, they are the
    list of the nth "products" key of the object the file is (the last: Python's json keeps it)."""

    products_key: int
    product_count: int


def shape(content: bytes) -> Shape:
    """The whole file read once, its events counted, not built: that it is JSON (raises
    Unreadable), nested no deeper than DEPTH_MOST (raises TooDeep), and a list of products or an
    object with a "products" list (raises NotProducts); where the products are, and how many."""
    events = _events(content)
    event, _value = next(events, ("", None))  # a document holds a value: without one, ijson refused it
    if event not in _STARTS:
        for _rest in events:  # a string, a number...: still, is it JSON to the end?
            pass
        raise NotProducts
    top_is_list = event == "start_array"
    depth = 1
    counting_at = 1 if top_is_list else 0  # the depth of the list whose items are counted; 0: none
    count = 0
    products_keys = 0
    products: tuple[int, int | None] | None = None  # the last "products" key: its number, its list's count
    value_of_products_key = False
    for event, value in events:
        if depth == counting_at:
            if event == "end_array":
                counting_at = 0
                if not top_is_list:
                    products = (products_keys, count)
                depth -= 1
                continue
            count += 1
        if value_of_products_key:
            value_of_products_key = False
            products_keys += 1
            products = (products_keys, None)
            if event == "start_array":
                counting_at, count = 2, 0
        if event in _STARTS:
            depth += 1
            if depth > DEPTH_MOST:
                raise TooDeep
        elif event in _ENDS:
            depth -= 1
        elif depth == 1 and event == "map_key":
            value_of_products_key = value == "products"
    if top_is_list:
        return Shape(0, count)
    if products is None or products[1] is None:
        raise NotProducts
    return Shape(*products)


def products(content: bytes, file_shape: Shape, number: Callable[[Decimal], Any]) -> Iterator[Any]:
    """The products of a file of that shape (`shape`), each built from ijson's events as it is
    asked for, as Python's json builds it, each Decimal (see above) made `number(it)` as it is put
    in its place: a product of a million numbers never holds a million Decimals (104 bytes each, a
    float 24). Past the products' list the file is not read again: `shape` did.

    Built here, not by ijson's C items(): that one works out the prefix of every event, and took
    twice as long on a 45 MB file (bench/import_memory.py's)."""
    events = _events(content)
    next(events)  # the start of the file's list, or object
    if file_shape.products_key:
        keys_seen = depth = 0
        for event, value in events:  # to the start of the list of that "products" key
            if depth == 0 and event == "map_key" and value == "products":
                keys_seen += 1
                if keys_seen == file_shape.products_key:
                    break
            elif event in _STARTS:
                depth += 1
            elif event in _ENDS:
                depth -= 1
        next(events)  # the list's start
    for event, value in events:
        if event == "end_array":
            return
        yield _value(event, value, events, number)


def _value(
    first_event: str, first_value: Any, events: Iterator[tuple[str, Any]], number: Callable[[Decimal], Any]
) -> Any:
    """The value that begins with (`first_event`, `first_value`), its other events taken from
    `events`, as ijson's own builder builds it (a later key of an object wins), but each Decimal
    `number(it)`; in a loop, not recursion."""
    if first_event not in _STARTS:  # a string, number, boolean or null: the event's value
        return number(first_value) if first_value.__class__ is Decimal else first_value
    root: dict | list = {} if first_event == "start_map" else []
    containers: list[dict | list] = [root]
    keys: list[Any] = [None]  # the key each open object is at
    for event, value in events:
        if event == "map_key":
            keys[-1] = value
            continue
        if event in _ENDS:
            containers.pop()
            keys.pop()
            if not containers:
                return root
            continue
        item = {} if event == "start_map" else [] if event == "start_array" else value
        if item.__class__ is Decimal:
            item = number(item)
        parent = containers[-1]
        if parent.__class__ is list:
            parent.append(item)
        else:
            parent[keys[-1]] = item
        if event in _STARTS:
            containers.append(item)
            keys.append(None)
    return root  # not expected: _events raises where a value is left open


# The reading

def _parser(target: sendable_list):
    """ijson's parser, to be fed bytes: it appends its events to `target`."""
    return ijson.basic_parse_coro(target, use_float=False)


def _events(content: bytes) -> Iterator[tuple[str, Any]]:
    """ijson's events of the file, (event, value), chained in C: not a generator's step each."""
    return chain.from_iterable(_parsed(content))


def _parsed(content: bytes) -> Iterator[list]:
    """ijson's events of the file in lists, one for each piece it is fed: only a piece's events
    are held at a time. Raises Unreadable where the file stops being JSON."""
    start = text_start(content)
    parsed = sendable_list()
    parser = _parser(parsed)
    for number, piece in enumerate(_pieces(content, start)):
        try:
            parser.send(piece.data)
        except _REFUSALS as error:
            # What this piece gave is dropped unread: the event of a number too long holds no value.
            raise _unreadable(content, start, number, error) from None
        yield parsed
        parsed.clear()  # read: chain() asks for the next list only once done with this one
    if _open_string(content, start, len(content)) is not None:
        # A string left open at the end of the file: ijson takes one opened after the document
        # (`[1] "a`) for nothing, where Python's json names it.
        raise Unreadable(_fault(content, start, len(content)))
    try:
        parser.close()  # the end of the file: a document left open, or a last token unreadable
    except _REFUSALS as error:
        raise _unreadable(content, start, None, error) from None
    yield parsed


@dataclass
class _Piece:
    """What ijson is fed from byte `offset` of the file: its bytes, with stand-ins (`_fed`) where
    `outside` is not None: then the ranges of the piece outside strings, where words were replaced."""

    offset: int
    data: bytes | memoryview
    outside: list[tuple[int, int]] | None = None


def _pieces(content: bytes, start: int, end: int | None = None) -> Iterator[_Piece]:
    """The file's bytes from `start` to `end`, about PIECE_BYTES a piece, each piece ending between
    tokens (so that whether a word is run into a number is seen within it), with its stand-ins
    (`_fed`). A piece that needs none is the file's bytes, shared (memoryview), not copied."""
    end = len(content) if end is None else end
    strings = _StringsOpen(content, start)
    offset = start
    while offset < end:
        stop = min(_TOKEN_RUN.match(content, min(offset + PIECE_BYTES, len(content))).end(), end)
        yield _fed(content, offset, stop, strings)
        offset = stop


def _fed(content: bytes, offset: int, stop: int, strings: _StringsOpen) -> _Piece:
    """The piece of the file from `offset` to `stop` as ijson is fed it: a new bytes object, where it
    has any, with
    - each lone high surrogate escape (\\ud800) made a lone low one (\\udc00), which ijson refuses;
    - each number too small for Decimal's exponent (1e-99999999999999999999), or zero with too large
      an exponent, made 0.0, as Python's json reads it (ijson refuses it), padded with spaces;
    - outside strings, each NaN, Infinity and -Infinity its stand-in.
    The first two keep the length, so the file's offsets stay; where a word is replaced, `outside`
    lets `_file_offset` find them again. Most pieces have none: a search in C each."""
    surrogates = _lone_high_surrogates(content, offset, stop, strings.floor)
    has_words = content.find(b"NaN", offset, stop) >= 0 or content.find(b"Infinity", offset, stop) >= 0
    long_exponent = _LONG_EXPONENT.search(content, offset, stop)
    if not (surrogates or has_words or long_exponent):
        return _Piece(offset, memoryview(content)[offset:stop])
    data = bytearray(content[offset:stop])
    for escape in surrogates:
        data[escape - offset:escape - offset + 6] = b"\\udc00"
    if not (has_words or long_exponent):
        return _Piece(offset, bytes(data))
    outside = _outside_strings(content, offset, stop, strings)
    if long_exponent:
        for begin, end in outside:
            for number in _LONG_EXPONENT.finditer(content, begin, end):
                _vanishing_number_replaced(content, number.start(), begin, end, data, offset)
    if not has_words:
        return _Piece(offset, bytes(data))
    parts: list[bytes] = []
    fed_to = 0
    for begin, end in outside:
        segment = data[begin - offset:end - offset]
        if b"NaN" in segment or b"Infinity" in segment:
            parts += (data[fed_to:begin - offset], _words_replaced(bytes(segment)))
            fed_to = end - offset
    parts.append(data[fed_to:])
    return _Piece(offset, b"".join(parts), outside)


def _words_replaced(segment: bytes) -> bytes:
    """NaN, Infinity and -Infinity in `segment` (outside strings), each that stands alone, its
    stand-in: by re.sub with a fixed replacement, in C, not a step of Python a word."""
    for word, alone in _WORD_ALONE.items():
        if word.lstrip(b"-") in segment:
            segment = alone.sub(_STAND_INS[word], segment)
    return segment


def _file_offset(content: bytes, piece: _Piece, index: int) -> int:
    """The offset in the file of byte `index` of what `piece` fed ijson: a stand-in's bytes are its
    word's. The words are found again as `_words_replaced` found them (the error path only)."""
    shift = 0  # how many more bytes ijson was fed than the file holds, before the word at hand
    for begin, end in piece.outside or ():
        for word in _ANY_WORD_ALONE.finditer(content[begin:end]):
            word_offset = begin + word.start()
            fed_at = word_offset - piece.offset + shift
            if index < fed_at:
                return piece.offset + index - shift
            stand_in = _STAND_INS[word.group()]
            if index < fed_at + len(stand_in):
                return word_offset
            shift += len(stand_in) - len(word.group())
    return piece.offset + index - shift


def _lone_high_surrogates(content: bytes, offset: int, stop: int, floor: int) -> list[int]:
    """The offsets of the \\uXXXX escapes from `offset` to `stop` of a high surrogate with no low one
    after it. ijson reads one as "?": the character would be lost, unsaid."""
    if content.find(b"\\u", offset, stop) < 0:
        return []
    # The low surrogate may be in the next piece: the search looks past `stop`, a pair's length.
    escapes = _LONE_HIGH_SURROGATE.finditer(content, offset, min(stop + 12, len(content)))
    return [
        escape.start() for escape in escapes
        if escape.start() < stop and _backslashes_before(content, floor, escape.start()) % 2 == 0
    ]


def _vanishing_number_replaced(
    content: bytes, exponent: int, begin: int, end: int, data: bytearray, offset: int
) -> None:
    """Where the exponent at `exponent` (between `begin` and `end`, outside strings) ends a number
    that Python's json reads as 0.0 (or -0.0), write that in `data` (the piece from `offset`) in its
    place. Else leave it: a number too large, for ijson to refuse and the file to be told of."""
    token_start = exponent
    while token_start > begin and content[token_start - 1] in _TOKEN_BYTES:
        token_start -= 1
    token_end = _TOKEN_RUN.match(content, exponent, end).end()
    token = content[token_start:token_end]
    mantissa, _e, exponent_digits = token.replace(b"E", b"e").partition(b"e")
    if not _NUMBER.fullmatch(token):
        return
    if not (exponent_digits.startswith(b"-") or _ZERO.fullmatch(mantissa)):
        return
    zero = (b"-0.0" if token.startswith(b"-") else b"0.0").ljust(len(token))
    data[token_start - offset:token_end - offset] = zero


class _StringsOpen:
    """Whether a string is open at an offset of the file, asked in order: the quotes counted from
    where it was last asked, not from the start."""

    def __init__(self, content: bytes, start: int) -> None:
        self.content = content
        self.floor = start
        self._counted_to = start
        self._open = False

    def at(self, offset: int) -> bool:
        self._open ^= _quotes(self.content, self._counted_to, offset, self.floor) % 2 == 1
        self._counted_to = offset
        return self._open


def _outside_strings(content: bytes, offset: int, stop: int, strings: _StringsOpen) -> list[tuple[int, int]]:
    """The ranges from `offset` to `stop` that are outside strings: between quotes not escaped.
    A file has no backslash outside its strings; in one that does, ijson stops there, before any
    range this may have taken wrongly."""
    in_string = strings.at(offset)
    outside = []
    position = offset
    quote = content.find(b'"', offset, stop)
    while quote >= 0:
        if _backslashes_before(content, strings.floor, quote) % 2 == 0:
            if not in_string:
                outside.append((position, quote))
            in_string = not in_string
            position = quote + 1
        quote = content.find(b'"', quote + 1, stop)
    if not in_string:
        outside.append((position, stop))
    return outside


def _quotes(content: bytes, start: int, end: int, floor: int | None = None) -> int:
    """How many quotes between `start` and `end` open or close a string: all but those after an odd
    number of backslashes, which are in their string, counted back as far as `floor` (the text's
    start; `start` where None: then not in a run of backslashes). Searched for by bytes.find, not
    a regex, which would look at every byte in Python's regex engine."""
    floor = start if floor is None else floor
    quotes = content.count(b'"', start, end)
    escaped = content.find(b'\\"', max(start - 1, floor), end)
    while escaped >= 0:
        quotes -= _backslashes_before(content, floor, escaped + 1) % 2
        escaped = content.find(b'\\"', escaped + 2, end)
    return quotes


def _open_string(content: bytes, start: int, end: int) -> int | None:
    """The offset of the quote that opens a string still open at `end`, if one is (for a file whose
    backslashes are all in strings, as ijson checks up to `end`)."""
    if _quotes(content, start, end) % 2 == 0:
        return None
    offset = end
    while (offset := content.rfind(b'"', start, offset)) >= 0:
        if _backslashes_before(content, start, offset) % 2 == 0:
            return offset
    return None  # not expected


def _backslashes_before(content: bytes, start: int, offset: int) -> int:
    before = offset
    while before > start and content[before - 1] == ord("\\"):
        before -= 1
    return offset - before


# Where a file stops being JSON

def _refuses(content: bytes, start: int, end: int, then: bytes = b"") -> bool:
    """Whether ijson, fed the file from `start` to `end`, then `then`, refuses it on the way."""
    parsed = sendable_list()
    parser = _parser(parsed)
    try:
        for piece in _pieces(content, start, end):
            parser.send(piece.data)
            parsed.clear()
        parser.send(then)
    except _REFUSALS:
        return True
    return False


def _unreadable(content: bytes, start: int, piece_number: int | None, error: Exception) -> Unreadable:
    """Where the file stops being JSON, ijson having refused its piece `piece_number` (None: its
    end). ijson does not say where in the piece: the file is read again as far as that piece,
    then that piece a byte at a time, until one is refused (twice the file at most, on this path
    only). Then the place as Python's json gives it (`_fault`)."""
    offset = len(content)
    if piece_number is not None:
        parsed = sendable_list()
        parser = _parser(parsed)
        for number, piece in enumerate(_pieces(content, start)):
            if number < piece_number:
                parser.send(piece.data)
                parsed.clear()
                continue
            offset = _refused_byte(parser, parsed, content, piece)
            break
    offset = _fault(content, start, offset)
    if isinstance(error, ijson.JSONError | UnicodeError):  # UnicodeError: a lone \udc00, in a string
        return Unreadable(offset)
    end = offset
    while end < len(content) and content[end] in _TOKEN_BYTES:
        end += 1
    number = content[offset:end]
    return Unreadable(offset, number.decode("ascii") if _NUMBER.fullmatch(number) else None)


def _refused_byte(parser, parsed: sendable_list, content: bytes, piece: _Piece) -> int:
    """The offset in the file of the first byte of `piece` that `parser` refuses, fed them one at a
    time (a stand-in's: its word's)."""
    data = bytes(piece.data)
    for index in range(len(data)):
        try:
            parser.send(data[index:index + 1])
        except _REFUSALS:
            return _file_offset(content, piece, index)
        parsed.clear()
    return _file_offset(content, piece, len(data))  # not expected: refused only as a whole


def _fault(content: bytes, start: int, refused_at: int) -> int:
    """Where Python's json says the file stops being JSON, ijson having refused the byte at
    `refused_at` (the file's length: its end), the file before it taken.

    ijson reads a token whole before it weighs where it stands: a string to its closing quote, a
    number or a word (true, NaN) to the character after it. So it refuses a token out of place only
    there, and a string out of place at any character it does not take in a string; Python's json
    names the token, where it begins. A token it does take where it stands, but not whole (1.5e,
    nulll, NaNa), Python's json names where the part it reads ends."""
    opening = _open_string(content, start, refused_at)
    if opening is not None:  # refused in a string, or at its closing quote
        if _refuses(content, start, opening, b'""'):
            return opening  # no string may stand there
        return _fault_in_string(content, opening, refused_at)
    token_start = refused_at
    while token_start > start and content[token_start - 1] in _TOKEN_BYTES:
        token_start -= 1
    if token_start < refused_at and not _refuses(content, start, refused_at, b" "):
        return refused_at  # the token before the byte was whole and in its place: the byte is not
    if _refuses(content, start, token_start, b"0 "):
        return token_start  # no value may stand there
    token_end = token_start
    while token_end < len(content) and content[token_end] in _TOKEN_BYTES:
        token_end += 1
    token = content[token_start:token_end]
    number = _NUMBER.match(token)
    if (number and number.end() == len(token)) or token in _WORDS:
        return token_start  # whole and in its place, yet refused: a number ijson cannot hold
    return token_start + max([number.end() if number else 0] + [len(word) for word in _WORDS if token.startswith(word)])


def _fault_in_string(content: bytes, opening: int, refused_at: int) -> int:
    """Where Python's json says a string that opens at `opening` stops being JSON, ijson having
    refused its byte at `refused_at` (the file's length: the string is left open). An escape: a
    \\uXXXX one at its u (one the file ends with too, whole or not), another at its backslash; the
    end of the file, where the string opens; else the byte, a control character."""
    at_end = refused_at == len(content)
    for backslash in range(refused_at - 1, max(opening, refused_at - (7 if at_end else 6)), -1):
        if content[backslash] == ord("\\"):
            if _backslashes_before(content, opening, backslash + 1) % 2 == 0:
                break  # \\: an escape of its own, whole
            if content[backslash + 1:backslash + 2] == b"u":
                return backslash + 1
            if backslash == refused_at - 1 and not at_end:
                return backslash
            break
    return opening if at_end else refused_at
