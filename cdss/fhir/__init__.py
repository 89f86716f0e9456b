"""FHIR R4 input and output for cdss (``pip install 'cdss[fhir]'``; docs/fhir.md).

:func:`to_encounter` maps a Bundle, a list of resources or a CDS Hooks request to the
contract's Encounter JSON, with notes for what it did not map and errors (by FHIR
path) for malformed resources; :func:`from_encounter` writes an encounter as a Bundle.
"""

from cdss.fhir.export import from_encounter
from cdss.fhir.mapping import to_encounter
from cdss.fhir.result import FhirMapping, Problem

__all__ = ["FhirMapping", "Problem", "from_encounter", "to_encounter"]
