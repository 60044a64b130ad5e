"""Project exceptions: errors a user can cause carry a one-line message."""

from __future__ import annotations


class TaggerError(Exception):
    """An error the user can act on; the CLI prints ``str(err)`` without a traceback."""


class ConfigError(TaggerError):
    """Bad configuration value, file or environment variable."""


class UnreadableFileError(TaggerError):
    """A file that cannot be read as audio or as tags."""


class DecodeError(UnreadableFileError):
    """Audio that cannot be decoded."""


class Cancelled(TaggerError):
    """Long work stopped because the caller asked it to."""


class CalibrationError(TaggerError):
    """Calibration data that cannot be used (wrong shapes, too few labels, bad values)."""


def reason_of(err: BaseException) -> str:
    """One line saying why ``err`` happened, for a message about a damaged file.

    Third-party readers raise with empty, bare-number or multi-line messages
    on damaged input; those would make the one-line message empty or split it.
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if not text or text.strip("'\"0123456789-") == "":
        return f"{type(err).__name__}{f' {text}' if text else ''}"
    return text[:200]


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``…), so it prints as one line.

    File names may hold newlines, carriage returns and terminal escapes; a
    message that quotes one must still be one line, and must not drive the terminal.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or ch == " ":
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)
