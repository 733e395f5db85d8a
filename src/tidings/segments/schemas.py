"""Request and response shapes for segments and unsaved rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
RULE_DOC = "An audience rule (see docs/targeting.md); validated against the app's attributes."


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: str = Field("", max_length=2000)
    rule: dict[str, Any] = Field(description=RULE_DOC)


class SegmentPatch(BaseModel):
    """Fields left out stay as they are; a new rule bumps the version."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: str | None = Field(None, max_length=2000)
    rule: dict[str, Any] | None = Field(None, description=RULE_DOC)


class SegmentOut(BaseModel):
    id: int
    name: str
    description: str
    rule: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class SegmentList(BaseModel):
    data: list[SegmentOut]
    next_cursor: str | None


class Member(BaseModel):
    id: int
    external_id: str | None


class EstimateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_size: int = Field(10, ge=0, le=100, description="How many members to sample.")


class EstimateOut(BaseModel):
    segment_id: int | None
    count: int
    sample: list[Member]
    evaluated_at: datetime


class MemberPage(BaseModel):
    data: list[Member]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: dict[str, Any] = Field(description=RULE_DOC)


class RuleValidated(BaseModel):
    valid: bool = True
    rule: dict[str, Any] = Field(
        description="The rule normalized: types filled in, datetimes in UTC."
    )
    segments: list[int] = Field(description="Segments the rule refers to, directly or not.")


class RuleExplainIn(RuleIn):
    user_id: int | None = Field(None, ge=1)
    external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _someone(self) -> RuleExplainIn:
        if self.user_id is None and self.external_id is None:
            raise ValueError("user_id or external_id is required")
        return self


class Explanation(BaseModel):
    segment_id: int | None
    user_id: int
    external_id: str | None
    result: bool
    evaluated_at: datetime
    tree: dict[str, Any] = Field(
        description="Each node: path, kind, result; leaves also condition, read, reason."
    )
