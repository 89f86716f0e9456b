"""Prescription-rule additions to the input (docs/contract-additions.md, issue #15):
the slip a prescription item is written on, a skin-test result, and the setting of the
visit (facility level, prescriber's title) the antimicrobial tiers are checked against."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from cdss.models._base import Code, Date, DateTime, Model


def _words(table: dict[str, str]):
    """A validator reading a code or one of its Chinese words (case and spaces ignored)."""
    index = {k.lower(): v for k, v in table.items()}

    def read(value: Any) -> Any:
        if isinstance(value, str):
            key = "".join(value.split()).lower()
            return index.get(key, key)
        return value
    return BeforeValidator(read)


def _slip_id(value: Any) -> Any:
    """A slip id may be sent as a number (1) or a text ("1", "A")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


#: the paper prescription (处方笺) an item is printed on: any short id, unique per visit
SlipId = Annotated[Code, BeforeValidator(_slip_id)]

_RESULTS = {"negative": "negative", "阴性": "negative", "-": "negative", "(-)": "negative",
            "（-）": "negative", "positive": "positive", "阳性": "positive", "+": "positive",
            "(+)": "positive", "（+）": "positive", "not_done": "not_done", "未做": "not_done",
            "未皮试": "not_done", "未做皮试": "not_done", "not done": "not_done"}


def _skin_test(value: Any) -> Any:
    """A bare result ("阴性", "negative") is ``{"result": ...}``."""
    return {"result": value} if isinstance(value, str) else value


class SkinTest(Model):
    """The skin test (皮试) done before a drug whose label requires one."""

    result: Annotated[Literal["negative", "positive", "not_done"], _words(_RESULTS)]
    time: DateTime | Date | None = None


SkinTestField = Annotated[SkinTest, BeforeValidator(_skin_test)]

_FACILITY = {"村卫生室": "village", "卫生室": "village", "乡镇卫生院": "township",
             "卫生院": "township", "社区卫生服务中心": "community",
             "社区卫生服务站": "community", "县级医院": "county", "县医院": "county",
             "二级医院": "county", "三级医院": "city", "市级医院": "city"}
_TITLE = {"乡村医生": "village_doctor", "村医": "village_doctor",
          "执业助理医师": "assistant", "助理医师": "assistant",
          "医师": "junior", "住院医师": "junior", "初级": "junior",
          "主治医师": "intermediate", "中级": "intermediate",
          "副主任医师": "senior", "主任医师": "senior", "高级": "senior"}


class Setting(Model):
    """Where and by whom the visit's prescriptions are written (抗菌药物分级管理)."""

    #: village clinic, township health centre, community health centre, county or city
    #: hospital (a van reports the level of the facility that runs it)
    facility_level: Annotated[Literal["village", "township", "community", "county", "city"],
                              _words(_FACILITY)] | None = None
    #: the prescriber's professional title: it bounds the antimicrobial tiers that may be
    #: granted (抗菌药物临床应用管理办法 2012, 第二十四条)
    prescriber_title: Annotated[Literal["village_doctor", "assistant", "junior",
                                        "intermediate", "senior"],
                                _words(_TITLE)] | None = None
