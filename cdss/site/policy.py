"""The alerting policy read with the rules: default stop levels and the never list.

``rules/alerting.yaml`` maps severity to stop level; ``rules/never_off.yaml`` lists the
rules no site layer may turn off. A rules folder without these files uses the bundled
ones (as with ``findings.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cdss._resources import rules_dir as bundled_rules_dir
from cdss.errors import KnowledgeError, RuleSpecError
from cdss.kb._files import read_yaml, validation_message
from cdss.kb.schema import Text
from cdss.site.spec import Severity, Stop

ALERTING_FILE = "alerting.yaml"
NEVER_FILE = "never_off.yaml"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AlertingFile(_Spec):
    stop_by_severity: dict[Severity, Stop]


class NeverEntry(_Spec):
    match: str = Field(min_length=1)
    severity: Severity | None = None
    reason: Text
    source: str = Field(min_length=1)


class NeverFile(_Spec):
    never_off: tuple[NeverEntry, ...] = ()


def _read(rules_dir: Path, name: str, model: type[_Spec]) -> _Spec:
    path = rules_dir / name
    if not path.is_file():
        path = bundled_rules_dir() / name
    try:
        return model.model_validate(read_yaml(path) or {})
    except ValidationError as exc:
        raise RuleSpecError(str(path), None, validation_message(exc)) from None
    except KnowledgeError as exc:
        raise RuleSpecError(str(path), None, exc.problem) from None


@dataclass(frozen=True)
class AlertPolicy:
    """Default stop levels and the never list of a rules folder."""

    stop_by_severity: dict[str, str]
    never: tuple[NeverEntry, ...]

    def default_stop(self, severity: str) -> str:
        return self.stop_by_severity.get(severity, "soft")

    def never_entry(self, rule_id: str, severity: str) -> NeverEntry | None:
        """The never-list entry protecting a rule of this (national) severity, if any."""
        for entry in self.never:
            if fnmatchcase(rule_id, entry.match) and entry.severity in (None, severity):
                return entry
        return None

    def digest_data(self) -> dict[str, object]:
        """What of the policy changes reports (for the receipt's rules hash)."""
        return {"stop_by_severity": dict(sorted(self.stop_by_severity.items())),
                "never": [e.model_dump(mode="json") for e in self.never]}


def load_policy(rules_dir: Path) -> AlertPolicy:
    alerting = _read(rules_dir, ALERTING_FILE, AlertingFile)
    never = _read(rules_dir, NEVER_FILE, NeverFile)
    assert isinstance(alerting, AlertingFile) and isinstance(never, NeverFile)
    missing = sorted({"info", "warning", "critical"} - set(alerting.stop_by_severity))
    if missing:
        raise RuleSpecError(str(rules_dir / ALERTING_FILE), None,
                            f"stop_by_severity lacks {', '.join(missing)}")
    return AlertPolicy(dict(alerting.stop_by_severity), never.never_off)
