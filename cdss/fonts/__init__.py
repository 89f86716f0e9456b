"""Chinese in matplotlib plots on any machine: a shipped CJK font, and a warning for
every character no font has.

The package ships a subset of Noto Sans CJK SC (SIL Open Font License 1.1; GB 2312 and
every character of the bundled content: ``cdss/fonts/README.md``). :func:`font_family` is the
family list plots are drawn with: DejaVu Sans for Latin, then an installed full CJK font
when there is one, then the shipped subset; matplotlib takes each glyph from the first
font that has it. A character none of them has (a rare hanzi in a name) would be drawn
as an empty box: :func:`warn_missing` says which ones, as a :class:`MissingGlyphWarning`
(and matplotlib's own "Glyph ... missing" warning is left on).
"""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Iterable
from importlib.resources import as_file, files
from pathlib import Path

#: the shipped subset (family name as registered with matplotlib)
SHIPPED_FILE = "NotoSansCJKsc-Subset.otf"
SHIPPED_FAMILY = "Noto Sans CJK SC cdss subset"
#: full CJK fonts preferred when installed (tried in order)
INSTALLED_CJK = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC",
                 "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei",
                 "PingFang SC")
LATIN = "DejaVu Sans"


class MissingGlyphWarning(UserWarning):
    """Characters of a plot's text that no available font has (drawn as boxes)."""


def shipped_font() -> Path:
    """The path of the shipped CJK subset."""
    with as_file(files(__name__) / SHIPPED_FILE) as path:
        return Path(path)


@functools.cache
def font_family() -> tuple[str, ...]:
    """Register the shipped font with matplotlib (once) and give the family list plots
    use: Latin, an installed CJK font if any, the shipped subset."""
    from matplotlib import font_manager

    manager = font_manager.fontManager
    if SHIPPED_FAMILY not in {f.name for f in manager.ttflist}:
        manager.addfont(str(shipped_font()))
    installed = {f.name for f in manager.ttflist}
    system = [name for name in INSTALLED_CJK if name in installed][:1]
    return (LATIN, *system, SHIPPED_FAMILY)


@functools.cache
def _charmap(family: str) -> frozenset[int]:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    path = font_manager.findfont(font_manager.FontProperties(family=family),
                                 fallback_to_default=False)
    return frozenset(FT2Font(path).get_charmap())


def missing_glyphs(texts: Iterable[str]) -> list[str]:
    """The characters of ``texts`` that no font of :func:`font_family` has (sorted;
    whitespace and control characters aside)."""
    maps = [_charmap(name) for name in font_family()]
    chars = {c for text in texts for c in text if c.isprintable() and not c.isspace()}
    return sorted(c for c in chars if not any(ord(c) in m for m in maps))


def warn_missing(texts: Iterable[str]) -> list[str]:
    """Warn (:class:`MissingGlyphWarning`) about the characters of ``texts`` that will be
    drawn as boxes, and return them."""
    missing = missing_glyphs(texts)
    if missing:
        shown = " ".join(f"{c} (U+{ord(c):04X})" for c in missing[:20])
        warnings.warn(f"no font has these characters, the plots show them as empty boxes: "
                      f"{shown}{' ...' if len(missing) > 20 else ''}; install a full CJK "
                      f"font (e.g. Debian's fonts-noto-cjk) to draw them",
                      MissingGlyphWarning, stacklevel=3)
    return missing


def rc() -> dict[str, object]:
    """matplotlib settings for :func:`matplotlib.rc_context`: the family list, and a
    minus sign every font has."""
    return {"font.family": list(font_family()), "axes.unicode_minus": False}


def subset_for(text: str) -> bytes | None:
    """The shipped font cut down to the non-ASCII characters of ``text`` it has (an
    OpenType font, a few hundred kB at most), for a page that must show Chinese where no
    CJK font is installed; None without fontTools (a dependency of matplotlib) or when
    ``text`` needs no glyph from it."""
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont
    except ImportError:
        return None
    wanted = {ord(c) for c in text if ord(c) > 0x7F}
    font = TTFont(str(shipped_font()))
    wanted &= set(font.getBestCmap())
    if not wanted:
        return None
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # copyright, names, licence kept
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(wanted))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()
