"""One escaping rule per output medium, applied where untrusted text enters it: Markdown, terminal, XML.

Names, tags, waiver reasons, error messages and journal fields come from stack files, programs, providers and
files on disk: any of them may hold `<script>`, a `[link](javascript:...)`, a newline that starts a new table row,
an ANSI or OSC escape that rewrites the terminal, a control character XML 1.0 forbids, or an unpaired surrogate
that no encoder accepts. Each renderer passes every untrusted value through the rule of its medium, here; text
Bascule wrote itself (headings, labels) is left as it is.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

_MARKDOWN = str.maketrans(
    {
        "&": "&amp;",  # no entity of the writer's making, and the next two cannot be written as entities either
        "<": "&lt;",  # no raw HTML (`<script>`, `<img onerror>`), no autolink (`<javascript:...>`)
        ">": "&gt;",
        "[": "\\[",  # no link or image (`[x](javascript:...)`, `![x](...)`)
        "]": "\\]",
        "|": "\\|",  # no new table cell
        "`": "\\`",  # no code span that swallows the rest of the line
        "\\": "\\\\",  # no escape of the writer's making (`\\|` would become `\` and a cell break)
    }
)


def _escaped(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


def one_line(text: str) -> str:
    """`text` on one line of visible characters: every control, format (bidi), separator or surrogate character
    written as its escape (`\\n`, `\\x1b`, `\\u202e`, `\\ud800`), so it can neither start a new line nor act."""
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def markdown(text: object) -> str:
    """`text` as literal Markdown inline text (GitHub-flavoured): one line, no HTML, no link, no table cell break.

    The characters that would start markup are escaped or written as entities; a newline becomes a space, so a name
    cannot add a table row or a heading, and other invisible characters are written as escapes.
    """
    flat = " ".join(str(text).replace("\r", "\n").split("\n"))
    return one_line(flat.translate(_MARKDOWN))


def terminal(text: str) -> str:
    """`text` safe to print on a terminal: lines and tabs kept, every other control character (ESC of ANSI and OSC
    sequences, BEL, carriage return, backspace), bidi override and unpaired surrogate written as its escape."""
    return "".join(c if c.isprintable() or c in "\n\t" else _escaped(c) for c in text)


def _xml_allowed(char: str) -> bool:
    """XML 1.0's `Char` production (https://www.w3.org/TR/xml/#charsets): tab, newline, carriage return and
    U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF; anything else makes the document not well-formed."""
    code = ord(char)
    return char in "\t\n\r" or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or 0x10000 <= code <= 0x10FFFF


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 forbids (NUL, ESC, other C0 controls, surrogates, U+FFFE/U+FFFF) written
    as its escape; the XML writer still escapes `<`, `&` and quotes."""
    return "".join(c if _xml_allowed(c) else _escaped(c) for c in text)


def xml_tree(root: ET.Element) -> ET.Element:
    """`root` with `xml_text` applied to every text, tail and attribute value: the JUnit writers build their tree
    from untrusted messages, and ElementTree writes a control character as is, which no XML parser then reads."""
    for element in root.iter():
        element.text = xml_text(element.text) if element.text is not None else None
        element.tail = xml_text(element.tail) if element.tail is not None else None
        for name, value in element.attrib.items():
            element.attrib[name] = xml_text(value)
    return root


QUOTE_MAX = 100
"""Characters of a user's value an error message repeats: enough to recognise it, never megabytes of it."""
LINE_MAX = 4000
"""Characters of one error or warning line: what a quoted value cut to `QUOTE_MAX` cannot exceed, for messages
that repeat text Bascule did not quote itself (a provider's error, a program's)."""


def quoted(value: object, limit: int = QUOTE_MAX) -> str:
    """`value` as an error message repeats it: `'text'`, cut after `limit` characters with its length said
    (`'aaaa…' (10485760 characters)`), so a 10 MiB name gives a short line, not a 10 MiB one. The one helper for
    every message that quotes user input; not escaped here: the output medium's rule (`one_line`, `terminal`)
    makes control characters visible where the line is printed."""
    if not isinstance(value, str):  # a number, a list: as Python writes it, unquoted
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
    if len(value) <= limit:
        return f"'{value}'"
    return f"'{value[:limit]}…' ({len(value)} characters)"


def bounded(line: str, limit: int = LINE_MAX) -> str:
    """`line` cut in the middle to `limit` characters, saying how many were left out: the last guard where error
    lines are printed, keeping the start (the file and field) and the end (what is wrong)."""
    if len(line) <= limit:
        return line
    keep = limit // 2
    return f"{line[:keep]} …[{len(line) - 2 * keep} characters left out]… {line[-keep:]}"
