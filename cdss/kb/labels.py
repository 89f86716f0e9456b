"""Clinician-facing names of input fields, and the defaults cdss infers when a record
is silent (``knowledge/field_labels.yaml``, ``knowledge/inference.yaml``)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field

from cdss.kb._files import read_yaml, validate
from cdss.kb.schema import Frozen, Source, Text

_INDEX = re.compile(r"\[\d+\]")


class FieldLabel(Frozen):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    #: the wording of a value of the field ("fasting" -> 空腹血糖; "true"/"false")
    values: dict[str, Text] = Field(default_factory=dict)
    #: a clinician may be asked for it ("缺少：…"); False for the order's own details
    #: and the record, whose absence is a quality finding
    ask: bool = True

    def text(self) -> Text:
        return Text(zh=self.zh, en=self.en)


class FieldLabels(Frozen):
    fields: dict[str, FieldLabel] = Field(default_factory=dict)

    def label(self, path: str) -> FieldLabel | None:
        """The label of an input path (``prescriptions[2].dose`` finds ``[]``)."""
        return self.fields.get(_INDEX.sub("[]", path))


class PregnancyInference(Frozen):
    not_pregnant_from_age: int = Field(ge=1)
    source: Source


class CkdRisk(Frozen):
    age_from: int = Field(ge=0)
    groups: tuple[str, ...] = Field(min_length=1)
    source: Source


class Inference(Frozen):
    pregnancy: PregnancyInference | None = None
    ckd_risk: CkdRisk | None = None


class DrugNaming(Frozen):
    """How a product name is reduced to a drug name (knowledge/drug_names.yaml)."""

    form_suffixes: tuple[str, ...] = ()
    form_prefixes: tuple[str, ...] = ()
    salt_prefixes: tuple[str, ...] = ()
    salt_suffixes: tuple[str, ...] = ()

    def candidates(self, key: str) -> list[str]:
        """Shorter names to look up for a normalised name, most specific first: without
        a dosage form, then also without a salt."""
        forms = [key]
        for prefix in self.form_prefixes:
            if key.startswith(prefix) and len(key) > len(prefix):
                forms.append(key[len(prefix):].strip())
        # no form ending in any suffix: the loop below would add none (issue #17: an
        # unknown name took 13 us here)
        suffixes = self.form_suffixes
        for suffix in (sorted(suffixes, key=len, reverse=True)
                       if any(name.endswith(suffixes) for name in forms) else ()):
            for name in list(forms):
                if name.endswith(suffix) and len(name) > len(suffix):
                    forms.append(name[: -len(suffix)].strip())
                    break
        out = list(forms)
        salt_prefixes, salt_suffixes = self.salt_prefixes, self.salt_suffixes
        for name in forms:
            if name.startswith(salt_prefixes):  # (else no prefix below adds a name)
                for prefix in salt_prefixes:
                    if name.startswith(prefix) and len(name) > len(prefix):
                        out.append(name[len(prefix):])
            if name.endswith(salt_suffixes):
                for suffix in salt_suffixes:
                    if name.endswith(suffix) and len(name) > len(suffix) + 1:
                        out.append(name[: -len(suffix)])
        return list(dict.fromkeys(out[1:]))


def load_naming(root: Path) -> DrugNaming:
    path = root / "drug_names.yaml"
    return validate(DrugNaming, read_yaml(path), path) if path.exists() else DrugNaming()


def load_labels(root: Path) -> FieldLabels:
    path = root / "field_labels.yaml"
    return validate(FieldLabels, read_yaml(path), path) if path.exists() else FieldLabels()


def load_inference(root: Path) -> Inference:
    path = root / "inference.yaml"
    return validate(Inference, read_yaml(path), path) if path.exists() else Inference()
