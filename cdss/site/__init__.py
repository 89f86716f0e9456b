"""Site layers: how a province, county or clinic tunes cdss without forking it.

``Engine(site="path/to/site")`` stacks the folder's ``province.yaml``, ``county.yaml``
and ``clinic.yaml`` on the bundled national content (docs/site-layers.md).
"""

from cdss.site.apply import Alerting, Change, SiteRules, adjust_rules, knowledge_edit
from cdss.site.load import LoadedLayer, Site, load_layer, load_site
from cdss.site.policy import AlertPolicy, load_policy
from cdss.site.repeats import FileOverrides, MemoryOverrides, Override, OverrideStore

__all__ = ["AlertPolicy", "Alerting", "Change", "FileOverrides", "LoadedLayer",
           "MemoryOverrides", "Override", "OverrideStore", "Site", "SiteRules",
           "adjust_rules", "knowledge_edit", "load_layer", "load_policy", "load_site"]
