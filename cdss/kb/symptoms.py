"""Red-flag symptom matching: plain terms and site + qualifier compositions.

A free-text symptom is lower-cased and split into clauses (at the knowledge's
``clause_separators``: ，,;；。/ and the word "and"); a clause is split into list items at
its ``item_separators`` (、). Within an item a key is matched by

* a plain term ("胸痛", "chest pain"), or
* a composition: a site word and a qualifier word in either order with at most
  ``max_gap`` units between them ("左上肢" + "无力", "weakness" + "left arm").

A unit is one Chinese character or one English word. A match is negated when a negation
word ends at most ``negation_reach`` units before the term, the site or the qualifier
("否认胸痛", "双上肢无麻木", "no chest pain"); phrases such as "无明显诱因" and "无力" hold a
negation word but negate nothing. In a list "无发热、胸闷、大汗" the negation carries on to
the following items unless an item has a number or an onset word ("无发热、胸痛2小时").
A composition's ``exclude`` words cancel a match that is not negated when they stand in
it or at most ``exclude_reach`` units before it ("双下肢无力"); a key with
``exclude_chronic`` does not count in a clause with a chronic course and no onset or
worsening word ("左下肢麻木3年"), and no key counts in a clause about a past event
("3年前曾有胸痛") without one.

Every word list and setting comes from knowledge/symptoms.yaml; the patterns are
compiled once per knowledge base.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdss.kb.schema import SymptomComposition, SymptomLexicon

#: one unit of distance: an English word (or number) or any other visible character
_UNIT = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
_DIGIT = re.compile(r"[0-9０-９]")


class _Words:
    """Any of a set of words (lower-cased, longest first). An English word must start a
    word ("coma" is not in "glaucoma", "arm" not in "harm"); checked after the match so
    that the pattern keeps the regex engine's first-character scan (a leading \\b would
    halve the speed)."""

    __slots__ = ("_re",)

    def __init__(self, words) -> None:
        words = sorted({w.lower() for w in words}, key=lambda w: (-len(w), w))
        self._re = re.compile("|".join(map(re.escape, words)))

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None):
        for m in self._re.finditer(text, pos, len(text) if endpos is None else endpos):
            at = m.start()
            if not (at and m.group()[0].isascii() and m.group()[0].isalnum()
                    and text[at - 1].isascii() and text[at - 1].isalnum()):
                yield m

    def search(self, text: str, pos: int = 0, endpos: int | None = None):
        return next(self.finditer(text, pos, endpos), None)

    def sub_masked(self, text: str) -> str:
        """``text`` with every match replaced by as many NUL characters."""
        out, last = [], 0
        for m in self.finditer(text):
            out += [text[last:m.start()], "\0" * (m.end() - m.start())]
            last = m.end()
        return "".join(out) + text[last:]


def _alternation(words) -> _Words | None:
    words = list(words)
    return _Words(words) if words else None


def _probe(words) -> re.Pattern[str] | None:
    """Any of ``words`` (lower-cased) anywhere: None without words."""
    words = sorted({w.lower() for w in words}, key=lambda w: (-len(w), w))
    return re.compile("|".join(map(re.escape, words))) if words else None


def _separators(words) -> re.Pattern[str]:
    """Split at any of ``words``: a punctuation mark anywhere, an English word as a word."""
    parts = [rf"\b{re.escape(w)}\b" if w[:1].isascii() and w[:1].isalnum() else re.escape(w)
             for w in sorted(words, key=lambda w: (-len(w), w))]
    return re.compile("|".join(parts)) if parts else re.compile(r"(?!)")


def _units(text: str) -> int:
    return len(_UNIT.findall(text))


def _start_before(text: str, pos: int, n: int) -> int:
    """Where the ``n`` units before ``pos`` begin (0 when there are fewer)."""
    if n <= 0:
        return pos
    units = _UNIT.findall(text, 0, pos)
    if len(units) <= n:
        return 0
    starts = [m.start() for m in _UNIT.finditer(text, 0, pos)]
    return starts[-n]


@dataclass(frozen=True)
class _Composition:
    sites: _Words
    qualifiers: _Words
    gap: int
    exclude: _Words | None
    onset: bool


@dataclass(frozen=True)
class _Key:
    key: str
    terms: _Words | None
    compositions: tuple[_Composition, ...]
    exclude_chronic: bool


class SymptomMatcher:
    """The lexicon compiled once; :meth:`match` is the hot path."""

    def __init__(self, lexicon: SymptomLexicon) -> None:
        m = lexicon.matching
        if m is None:  # no lexicon: nothing is named
            self._any = None
            return
        self.reach = m.negation_reach
        self._clauses = _separators(m.clause_separators)
        self._items = _separators(m.item_separators)
        self.exclude_reach = m.exclude_reach
        self._negations = _alternation(lexicon.negations)
        self._not_negations = _alternation(m.not_negations)
        self._onset = _alternation(m.onset)
        self._recent = _alternation([*m.onset, *m.worsening])
        self._chronic = (re.compile("|".join(f"(?:{p})" for p in m.chronic))
                         if m.chronic else None)
        self._past = re.compile("|".join(f"(?:{p})" for p in m.past)) if m.past else None
        self._keys = tuple(
            _Key(s.key, _alternation(s.terms),
                 tuple(self._composition(c, m.max_gap) for c in s.compositions),
                 s.exclude_chronic)
            for s in lexicon.symptoms)
        # per key, any of its terms and sites as a plain substring: an item without one
        # cannot name the key (a cheap test before the word-start and negation checks)
        self._probes = tuple(
            _probe([*s.terms, *(w for c in s.compositions for w in c.sites)])
            for s in lexicon.symptoms)
        # every match is a term or holds a site: a clause with neither names nothing
        self._any = _alternation([*(t for s in lexicon.symptoms for t in s.terms),
                                  *(w for s in lexicon.symptoms for c in s.compositions
                                    for w in c.sites)])

    @staticmethod
    def _composition(c: SymptomComposition, default_gap: int) -> _Composition:
        return _Composition(_alternation(c.sites), _alternation(c.qualifiers),
                            default_gap if c.max_gap is None else c.max_gap,
                            _alternation(c.exclude), c.onset)

    # ---- matching --------------------------------------------------------------
    def match(self, text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(keys named, keys named only negated) by a free-text symptom."""
        norm = re.sub(r"\s+", " ", text.strip().lower())
        if self._any is None or self._any.search(norm) is None:
            return (), ()
        found: dict[str, bool] = {}  # key -> negated everywhere it occurs
        for clause in self._clauses.split(norm):
            if not clause or self._any.search(clause) is None:
                continue
            self._clause(clause, found)
        return (tuple(k for k, neg in found.items() if not neg),
                tuple(k for k, neg in found.items() if neg))

    def _clause(self, clause: str, found: dict[str, bool]) -> None:
        onset = self._onset is not None and self._onset.search(clause) is not None
        recent = self._recent is not None and self._recent.search(clause) is not None
        chronic = (not recent and self._chronic is not None
                   and self._chronic.search(clause) is not None)
        past = not recent and self._past is not None and self._past.search(clause) is not None
        carried = False  # a negation carried along a 、 list
        for item in self._items.split(clause):
            negs = self._negation_ends(item)
            inherits = carried and not _DIGIT.search(item) and not (
                self._onset is not None and self._onset.search(item))
            led = bool(negs) and not item[:negs[0][0]].strip()  # item starts negated
            any_negated = any_positive = False
            for k, probe in zip(self._keys, self._probes, strict=True):
                if probe is None or probe.search(item) is None:
                    continue  # no term or site of the key in the item: not named
                state = self._key_in_item(k, item, negs, inherits, onset)
                if state is None:
                    continue
                if state is False and (past or (k.exclude_chronic and chronic)):
                    continue  # a past event or a chronic course: not a new red flag
                any_negated, any_positive = any_negated or state, any_positive or not state
                found[k.key] = found.get(k.key, True) and state
            carried = (inherits or led or any_negated) and not any_positive

    def _negation_ends(self, item: str) -> list[tuple[int, int]]:
        """(start, end) of the negation words in ``item``, pseudo-negations masked."""
        if self._negations is None:
            return []
        masked = item
        if self._not_negations is not None:
            masked = self._not_negations.sub_masked(item)
        return [(m.start(), m.end()) for m in self._negations.finditer(masked)]

    def _negated(self, item: str, negs: list[tuple[int, int]], at: int) -> bool:
        return any(end <= at and _units(item[end:at]) <= self.reach for _, end in negs)

    def _key_in_item(self, k: _Key, item: str, negs: list[tuple[int, int]],
                     inherits: bool, onset: bool) -> bool | None:
        """None: not named; False: named (not negated); True: named only negated."""
        state: bool | None = None
        if k.terms is not None:
            for m in k.terms.finditer(item):
                if not inherits and not self._negated(item, negs, m.start()):
                    return False
                state = True
        for c in k.compositions:
            if c.onset and not onset:
                continue
            for a, b in self._pairs(c, item):
                if inherits or self._negated(item, negs, a[0]) or self._negated(
                        item, negs, b[0]):
                    state = True
                elif c.exclude is None or c.exclude.search(
                        item, _start_before(item, a[0], self.exclude_reach), b[1]) is None:
                    return False
        return state

    @staticmethod
    def _pairs(c: _Composition, item: str):
        """(first, second) spans of a site and a qualifier at most ``c.gap`` units apart."""
        sites = [m.span() for m in c.sites.finditer(item)]
        if not sites:
            return
        for q in (m.span() for m in c.qualifiers.finditer(item)):
            for s in sites:
                a, b = (s, q) if s[1] <= q[0] else (q, s) if q[1] <= s[0] else (None, None)
                if a is not None and _units(item[a[1]:b[0]]) <= c.gap:
                    yield a, b
