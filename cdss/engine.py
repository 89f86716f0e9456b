"""The public engine: checks encounters against the compiled rules.

An :class:`Engine` does three things: :meth:`~Engine.check` (the report),
:meth:`~Engine.findings` (its suggestions alone) and :meth:`~Engine.matches` (the
backend's rule matches). Batch audits, screening and knowledge look-up are apps built
on it (``cdss.audit``, ``cdss.screen``, ``cdss.lookup``), which need only a
:class:`Checker`. ``Engine.audit/screen/lookup`` forward to them: that forwarding is
the one upward arrow of the package, a function-level import in :func:`_apps` (so
loading the engine never loads its apps), listed in the import contract
(``pyproject.toml``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cdss import backends
from cdss._resources import knowledge_dir as _bundled_knowledge
from cdss._resources import rules_dir as _bundled_rules
from cdss._version import __version__
from cdss.backends import Backend, Match
from cdss.backends.compiled.search import load as load_searches
from cdss.derive import FactSet, build_facts, fact_types
from cdss.derive.facts import consistent
from cdss.errors import KnowledgeError, RuleSpecError
from cdss.explain import Explainer
from cdss.kb import KnowledgeBase, load_knowledge
from cdss.kb.analytes import by_code as analytes_by_code
from cdss.models import Encounter
from cdss.reasoning import Reasoned, Reasoner
from cdss.receipt import Clock, Pins, knowledge_sha256, receipt, rules_sha256, system_clock
from cdss.report import SEVERITY_RANK, Report, Suggestion, deduplicate, require_lang
from cdss.rulelang import CompiledRule, RuleSet, build_ruleset
from cdss.rulelang.load import DEFAULT_STATUSES
from cdss.site import (
    Alerting,
    AlertPolicy,
    Change,
    OverrideStore,
    Site,
    SiteRules,
    adjust_rules,
    knowledge_edit,
    load_policy,
    load_site,
)
from cdss.site.apply import lower_stop
from cdss.site.repeats import latest_repeat
from cdss.site.spec import Suppression

if TYPE_CHECKING:
    from cdss.audit import AuditResult
    from cdss.lookup import LookupResult
    from cdss.screen import ScreenResult

EncounterInput = Encounter | dict[str, Any] | str | bytes


class Checker(Protocol):
    """What the apps need of an engine: its language, its reports and findings."""

    lang: str

    def parse(self, encounter: EncounterInput) -> Encounter: ...

    def check(self, encounter: EncounterInput, *, lang: str | None = None,
              explain_missing: bool = True) -> Report: ...

    def findings(self, encounter: EncounterInput, *, evidence: bool = True
                 ) -> list[Suggestion]: ...


class Engine:
    """Checks encounters against the rules; build once, call :meth:`check` many times.

    :param lang: language of messages, ``"zh"`` (default) or ``"en"``.
    :param rules_dir: a folder of rule files (default: the bundled ``rules/``).
    :param knowledge_dir: a folder of knowledge tables (default: bundled ``knowledge/``).
    :param backend: a registered backend (``cdss.backends.names()``): ``"durable"``
        (default: durable-rules finds the matches), ``"python"`` (the same compiled
        rules evaluated in Python) or ``"compiled"`` (the rules generated as Python
        source, its code cached on disk: the fastest, the default of ``cdss audit``):
        identical reports, checked by differential tests over every registered backend.
    :param clock: what gives the time of evaluation written in each report's receipt
        (default: the wall clock; :func:`cdss.receipt.fixed_clock` for reproducible
        reports). "Now" for the rules is always the encounter's own time.
    :param pin_rules: a ``rules_sha256`` the compiled rules must have (a
        :class:`~cdss.RuleSpecError` otherwise): a site pins the rule pack it validated.
    :param pin_knowledge: a ``knowledge_sha256`` the knowledge must have (a
        :class:`~cdss.KnowledgeError` otherwise).
    :param statuses: the life-cycle statuses of the rules that run (default production
        and testing; ``("production",)`` restricts reports to production rules).
    """

    def __init__(self, lang: str = "zh", *, rules_dir: str | Path | None = None,
                 knowledge_dir: str | Path | None = None,
                 backend: str = backends.DEFAULT, clock: Clock | None = None,
                 pin_rules: str | None = None, pin_knowledge: str | None = None,
                 statuses: Collection[str] = DEFAULT_STATUSES,
                 site: str | Path | None = None,
                 overrides: OverrideStore | None = None) -> None:
        require_lang(lang)
        self._backend: Backend = backends.create(backend)
        self.lang = lang
        self.backend = backend
        self.options: dict[str, Any] = {
            "lang": lang, "backend": backend,
            "rules_dir": str(rules_dir) if rules_dir else None,
            "knowledge_dir": str(knowledge_dir) if knowledge_dir else None,
            "statuses": tuple(sorted(statuses)),
            "site": str(site) if site is not None else None}
        # a missing folder, a file, or a pack of 0 rules is a RuleSpecError (issue #12: it
        # used to switch checking off silently)
        rules_path = Path(rules_dir) if rules_dir else _bundled_rules()
        self.policy: AlertPolicy = load_policy(rules_path)
        self.site: Site | None = load_site(site) if site is not None else None
        #: every knowledge change the site's layers made (with provenance)
        self.site_changes: list[Change] = []
        site_rules = SiteRules()
        self.kb: KnowledgeBase = load_knowledge(
            Path(knowledge_dir) if knowledge_dir else None,
            edit=knowledge_edit(self.site, self.site_changes) if self.site else None,
            tag=f"+site:{self.site.sha256[:12]}" if self.site else "")
        self._analytes = analytes_by_code(self.kb.analytes.values())
        adjust = ((lambda rules: adjust_rules(rules, self.site, self.policy, site_rules))
                  if self.site else None)
        site_rules_dir = self.site.rules_dir if self.site is not None else None
        self.ruleset: RuleSet = build_ruleset(
            rules_path, self.kb, self._backend.validate, statuses=statuses, adjust=adjust,
            extra=(site_rules_dir,) if site_rules_dir is not None else ())
        #: stop levels, what the site hides and its rule changes (:mod:`cdss.site`)
        self.alerting = Alerting(self.policy, site_rules)
        self._overrides = overrides
        self._explainer = Explainer(self.kb, self.ruleset.rules)
        kb = self.kb
        self._reasoner = Reasoner(self.ruleset.rules, fact_types(kb),
                                  lambda fact: consistent(fact, kb), searches=load_searches)
        self._info = {"version": __version__, "knowledge_version": self.kb.version,
                      "rules": len(self.ruleset.rules)}
        self._clock: Clock = clock or system_clock
        knowledge_hash = knowledge_sha256(
            Path(knowledge_dir) if knowledge_dir else _bundled_knowledge())
        if self.site is not None:  # the knowledge with the site's layers
            knowledge_hash = hashlib.sha256(
                f"{knowledge_hash}+site:{self.site.sha256}".encode()).hexdigest()
        self.pins = Pins(version=__version__, backend=backend,
                         rules_sha256=rules_sha256(self.ruleset, self.policy.digest_data()),
                         knowledge_sha256=knowledge_hash)
        _check_pins(self.pins, rules_path, pin_rules, pin_knowledge)
        # the pins say what the rule set was built from: a backend may cache its
        # compiled form under them
        self._backend.prepare(self.ruleset, key=f"{self.pins.version}:{self.pins.rules_sha256}"
                                                f":{self.pins.knowledge_sha256}")

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        """Every compiled rule, in file order."""
        return self.ruleset.rules

    def parse(self, encounter: EncounterInput) -> Encounter:
        """Read an encounter, its lab values converted with this engine's knowledge.

        :raises cdss.InputError: naming every bad field.
        """
        return Encounter.parse(encounter, analytes=self._analytes, words=self.kb.prescribing)

    def check(self, encounter: EncounterInput, *, lang: str | None = None,
              explain_missing: bool = True) -> Report:
        """Check one encounter; never mutates it, same input gives the same report.

        ``explain_missing=False`` leaves ``not_evaluated`` empty (batch audits, which do
        not report it, save the time of working it out).

        :raises cdss.InputError: if the encounter cannot be read (names every bad field).
        :raises cdss.RuleEvaluationError: if the rules engine fails (never silently).
        """
        shown = require_lang(lang or self.lang)
        enc = self.parse(encounter)
        facts = build_facts(enc, self.kb)
        suggestions, reasoned = self._findings(facts, evidence=True, undecided=explain_missing)
        kept, hidden = self._alert(deduplicate(suggestions, self.ruleset.keep), enc)
        not_evaluated = (self._explainer.not_evaluated(reasoned.undecided, facts)
                         if explain_missing else [])
        return Report(
            encounter_id=enc.id,
            engine=dict(self._info),
            suggestions=kept,
            not_evaluated=not_evaluated,
            notes=list(facts.notes),
            derived={k: v.to_dict() for k, v in sorted(facts.derived.items())},
            lang=shown,
            missing_data=(self._explainer.missing_data(not_evaluated, reasoned.decisions, facts,
                                                       kept) if explain_missing else []),
            receipt=receipt(self.pins, encounter, enc, self._clock()),
            hidden=hidden,
        )

    def findings(self, encounter: EncounterInput, *, evidence: bool = True) -> list[Suggestion]:
        """The suggestions of :meth:`check` alone, without the rest of the report.

        ``evidence=False`` leaves each suggestion's ``evidence`` empty and saves the
        time of working it out: batch audits report only rule, codes, drugs and title.

        :raises cdss.InputError: if the encounter cannot be read.
        """
        enc = self.parse(encounter)
        facts = build_facts(enc, self.kb)
        return self._alert(deduplicate(self._findings(facts, evidence=evidence,
                                                      undecided=False)[0],
                                       self.ruleset.keep), enc)[0]

    def _alert(self, suggestions: list[Suggestion], enc: Encounter
               ) -> tuple[list[Suggestion], list[dict[str, Any]]]:
        """Stop levels, site changes and repeats on each suggestion; and those a site's
        minimum severity keeps off the screen (listed, never dropped)."""
        shown: list[Suggestion] = []
        hidden: list[dict[str, Any]] = []
        alerting = self.alerting
        suppression = self._suppression()
        for s in suggestions:
            hiding, stop, notes = alerting.decide(s.rule_id, s.category, s.kind, s.severity)
            if hiding is not None:
                hidden.append({"rule_id": s.rule_id, "severity": s.severity,
                               "title": {lang: s.text("title", lang) for lang in ("zh", "en")},
                               "hidden_by": hiding.to_dict()})
                continue
            repeat = None
            if suppression is not None and self._overrides is not None:
                found = latest_repeat(self._overrides, enc.patient.id, s.rule_id, s.drugs,
                                      enc.time, suppression.window_days, suppression.reasons)
                if found is not None:
                    repeat = {"overridden_at": found.at.isoformat(), "reason": found.reason,
                              "window_days": suppression.window_days, "stop_was": stop}
                    stop = lower_stop(stop)
            shown.append(s.alerted(stop, repeat, tuple(c.to_dict() for c in notes)))
        return shown, hidden

    def _suppression(self) -> Suppression | None:
        """The repeat suppression of the top layer that sets one."""
        if self.site is None:
            return None
        found = [loaded.layer.suppression for loaded in self.site.layers
                 if loaded.layer.suppression is not None]
        return found[-1] if found else None

    def _findings(self, facts: FactSet, *, evidence: bool, undecided: bool
                  ) -> tuple[list[Suggestion], Reasoned]:
        """Every explained suggestion before deduplication: one per match, and one per
        finding made under missing data (``cdss.reasoning``); and what stayed undecided."""
        by_id = {f["id"]: f for f in facts.facts}
        out = []
        for action, bound in self.matches(facts.facts):
            rule = self.ruleset.by_action[action]
            env = {name: by_id[fact_id] for name, fact_id in bound.items()}
            out.append(self._explainer.suggestion(rule, env, facts, evidence=evidence))
        made: dict[tuple[str, frozenset[str]], str] = {}
        for s in out:  # each finding made, at its highest severity
            key = (s.group or s.rule_id, frozenset(s.subject))
            if key not in made or SEVERITY_RANK[s.severity] < SEVERITY_RANK[made[key]]:
                made[key] = s.severity
        reasoned = self._reasoner.reason(facts, made, undecided=undecided)
        for decision in reasoned.decisions:
            out.append(self._explainer.suggestion(decision.rule, decision.env, facts,
                                                  evidence=evidence, decision=decision))
        return out, reasoned

    def matches(self, facts: list[dict[str, Any]]) -> list[Match]:
        """Every rule match over derived facts, in one order whatever the backend (by
        rule, then by the ids of the matched facts)."""
        return self._backend.run(self.ruleset.relevant(facts))

    def lookup(self, query: str, *, lang: str | None = None) -> LookupResult:
        """Knowledge look-up: the monograph of the drug(s) a query names (知识检索)."""
        return _apps()[1](query, self.kb, self.ruleset.rules, lang or self.lang)

    def screen(self, patients: Any, *, as_of: Any, lang: str | None = None) -> ScreenResult:
        """Population screening: managed patients overdue or uncontrolled as of a date,
        most urgent first (``patients``: an iterable of ``{patient, history}``, a JSON
        list file or a JSONL file)."""
        return _apps()[2](self, patients, as_of, lang)

    def audit(self, source: Any, *, lang: str | None = None, progress: bool | None = None,
              keep_rows: bool = True) -> AuditResult:
        """Check many encounters: an iterable, a JSONL path (streamed) or a DataFrame.

        Every input shows up in the result: with its suggestions (possibly none) or in
        ``errors`` with the reason; the run goes on past bad inputs. ``progress``: a
        tqdm bar (None: only in a terminal or notebook); ``keep_rows=False``: counts
        and errors only, for long streams (see :mod:`cdss.audit`).
        """
        return _apps()[0](self, source, lang=lang, progress=progress, keep_rows=keep_rows)

    def __repr__(self) -> str:
        return (f"<Engine rules={len(self.ruleset.rules)} lang={self.lang!r} "
                f"backend={self.backend!r}>")


def _apps() -> tuple[Callable[..., AuditResult], Callable[..., LookupResult],
                     Callable[..., ScreenResult]]:
    """``cdss.audit.audit``, ``cdss.lookup.lookup`` and ``cdss.screen.screen``, for the
    shims of :class:`Engine`: the one documented upward import of the package (see the
    module docstring), made when a shim is first called."""
    from cdss.audit import audit
    from cdss.lookup import lookup
    from cdss.screen import screen

    return audit, lookup, screen


def _check_pins(pins: Pins, rules_path: Path, pin_rules: str | None,
                pin_knowledge: str | None) -> None:
    """Refuse to build an engine whose rules or knowledge are not the pinned ones."""
    if pin_rules is not None and pin_rules != pins.rules_sha256:
        raise RuleSpecError(str(rules_path), None,
                            f"the rules are not the pinned pack: rules_sha256 is "
                            f"{pins.rules_sha256}, pinned {pin_rules}")
    if pin_knowledge is not None and pin_knowledge != pins.knowledge_sha256:
        raise KnowledgeError("knowledge", None,
                             f"the knowledge is not the pinned one: knowledge_sha256 is "
                             f"{pins.knowledge_sha256}, pinned {pin_knowledge}")
