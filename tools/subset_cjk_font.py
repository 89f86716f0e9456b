"""Make cdss/fonts/NotoSansCJKsc-Subset.otf, the font the audit plots set
Chinese in when the machine has no CJK font (docs/audit-report.md, "Fonts").

Source: Noto Sans CJK SC Regular 1.004 (NotoSansCJKsc-Regular.otf, SIL Open Font License
1.1; sha256 1652500938055a232cfbfa321de6ebaadfc5635dd9f75e369bc991d14a6512dd), as
published by Google/Adobe (github.com/notofonts/noto-cjk; the same file is in the PyPI
wheel of mplfonts 0.0.11). Kept: every character of GB 2312 (the 6,763 common hanzi and
its symbols), ASCII, Latin-1, general and CJK punctuation, full-width forms, and every
character of the bundled rules, knowledge and code. The family is renamed (a modified
version of an OFL font) so that it is never taken for the full font.

    python tools/subset_cjk_font.py NotoSansCJKsc-Regular.otf
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cdss" / "fonts" / "NotoSansCJKsc-Subset.otf"
FAMILY = "Noto Sans CJK SC cdss subset"


def gb2312() -> set[str]:
    chars = set()
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def repository_text() -> set[str]:
    chars: set[str] = set()
    for folder, pattern in (("rules", "*.yaml"), ("knowledge", "*.yaml"), ("cdss", "*.py"),
                            ("cdss", "*.j2"), ("cdss", "*.json")):
        for path in (ROOT / folder).rglob(pattern):
            chars |= set(path.read_text(encoding="utf-8"))
    return {c for c in chars if ord(c) >= 0x2E80}


def main(source: str) -> None:
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x2190, 0x21FF),
              (0x2200, 0x22FF), (0x2460, 0x24FF), (0x25A0, 0x25FF), (0x3000, 0x303F),
              (0xFF00, 0xFFEF)]
    codepoints = {cp for lo, hi in ranges for cp in range(lo, hi + 1)}
    codepoints |= {ord(c) for c in gb2312() | repository_text()}
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.hinting = False
    font = TTFont(source)
    sub = subset.Subsetter(options)
    sub.populate(unicodes=sorted(codepoints))
    sub.subset(font)
    names = font["name"]
    for record in names.names:
        if record.nameID in (1, 4, 16):
            record.string = FAMILY
        elif record.nameID == 6:
            record.string = "NotoSansCJKsc-cdss-subset"
        elif record.nameID == 3:
            record.string = "1.004;cdss subset"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(OUT)
    print(f"{OUT}: {OUT.stat().st_size} bytes, {len(codepoints)} code points")


if __name__ == "__main__":
    main(sys.argv[1])
