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


class Inference(Frozen):
    pregnancy: PregnancyInference | None = None


def load_labels(root: Path) -> FieldLabels:
    path = root / "field_labels.yaml"
    return validate(FieldLabels, read_yaml(path), path) if path.exists() else FieldLabels()


def load_inference(root: Path) -> Inference:
    path = root / "inference.yaml"
    return validate(Inference, read_yaml(path), path) if path.exists() else Inference()
