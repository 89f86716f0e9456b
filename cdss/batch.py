"""What the batch paths share (audit, Dask blocks, screening): one bad record is one error.

Reading JSONL: a file is read as bytes and split on ``b"\\n"`` only (never on U+2028,
U+2029, U+0085 or a lone ``\\r``, which may sit inside a JSON string); each line is
decoded as UTF-8 on its own, so bytes that are not UTF-8 (or a character cut in half at
the end of the file) spoil their own line and no other. A UTF-8 byte order mark at the
start of a line (the start of the file, or of a file appended to another) is ignored.
Blank lines are skipped but counted: ``line N`` is the line after the (N-1)-th ``\\n``.

Errors: whatever goes wrong with one record becomes its entry in ``errors``
(:func:`record_error`) and the run goes on; only KeyboardInterrupt and SystemExit stop it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cdss.errors import InputError

LINE_LABEL = "line "  # inputs of a JSONL file are labelled "line N"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class BadLine:
    """A line (or an entry of a JSON list) that is not UTF-8: stands in for its text and
    becomes an error. ``byte``: the first offending byte, counted from 1 within the line
    (None when unknown)."""

    byte: int | None = None

    def message(self, lang: str = "en") -> str:
        """Why the input was not read, in ``lang`` (no byte of it is shown)."""
        if lang == "zh":
            return ("不是 UTF-8 编码" if self.byte is None
                    else f"不是 UTF-8 编码（该行第 {self.byte} 字节）")
        return ("not UTF-8" if self.byte is None
                else f"not UTF-8 at byte {self.byte} of the line")


def split_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` split on ``b"\\n"`` only (a final line may lack its ``\\n``)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # data ends with "\n" (or is empty): no line after it
    return lines


def decode_line(line: bytes) -> str | BadLine:
    """One line as text (without a leading BOM), or why it is not UTF-8."""
    if line.startswith(BOM):
        line = line[len(BOM):]
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(exc.start + 1)


def numbered_lines(lines: Iterable[bytes | str]) -> Iterator[tuple[str, str | BadLine]]:
    """``("line N", text)`` for each non-blank line, N counted from 1 over all lines;
    a line that is not UTF-8 comes as ``("line N", BadLine)``."""
    for n, line in enumerate(lines, 1):
        text = decode_line(line) if isinstance(line, bytes) else line
        if isinstance(text, BadLine) or text.strip():
            yield f"{LINE_LABEL}{n}", text


def record_error(exc: Exception, lang: str = "en") -> str:
    """The ``error`` of a record whose check failed: an ``InputError`` says which field;
    anything else is an internal error of cdss, named by its type only (no traceback, no
    value from the record), so the run goes on and a county can report it."""
    if isinstance(exc, InputError):
        return str(exc)
    name = type(exc).__name__
    if lang == "zh":
        return f"cdss 内部错误（{name}）：本条未能审核，请向 cdss 报告此问题"
    return f"internal error of cdss ({name}): this record was not checked; please report it"
