"""The audience rule model: a typed JSON tree, `extra="forbid"` at every node.

A node is recognised by its one distinguishing key:

    {"and": [...]}   {"or": [...]}   {"not": {...}}
    {"attribute": "plan", "op": "eq", "value": "pro", "case_insensitive": true}
    {"event": "purchase", "op": "gte", "value": 2, "within_days": 30}
    {"device": "any", "where": [{"field": "os_version", "op": "semver_gte", "value": "14"}]}
    {"consent": "push"}
    {"near": [35.69, 51.39], "radius_km": 25}
    {"segment": 12}
    {"percentage": 10, "seed": "spring-rollout"}

Shapes are checked here; meaning (operator against type, values, regexes, segment
references) is checked by `validate.check_rule`, which also fills in each attribute's
type so the compilers never guess.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

# Limits that keep a rule cheap to validate, compile and evaluate.
MAX_DEPTH = 10  # nested and/or/not levels in one rule, as written
MAX_EXPANDED_DEPTH = 32  # after segment references are inlined
MAX_NODES = 256  # nodes in one rule, as written
MAX_EXPANDED_NODES = 4096
MAX_CHILDREN = 100
MAX_VALUES = 1000  # values in an `in` list
MAX_DEVICE_FIELDS = 20
MAX_WINDOW_DAYS = 120  # daily counts are kept at least this long (profiles.models)
MAX_RELATIVE_DAYS = 36_500

AttributeType = Literal["string", "number", "boolean", "datetime", "list"]

AttributeOp = Literal[
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "regex",
    "more_than_days_ago",
    "less_than_days_ago",
    "semver_eq",
    "semver_gt",
    "semver_gte",
    "semver_lt",
    "semver_lte",
]
ATTRIBUTE_OPS: tuple[str, ...] = get_args(AttributeOp)

EventOp = Literal[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "streak",
    "not_within",
    "first_more_than_days_ago",
    "first_less_than_days_ago",
    "last_more_than_days_ago",
    "last_less_than_days_ago",
]
EVENT_OPS: tuple[str, ...] = get_args(EventOp)

DeviceFieldName = Literal[
    "platform",
    "os_name",
    "os_version",
    "app_version",
    "model",
    "manufacturer",
    "locale",
    "timezone",
    "push_provider",
    "push_active",
]
DEVICE_FIELD_TYPES: dict[str, str] = {
    name: ("boolean" if name == "push_active" else "string") for name in get_args(DeviceFieldName)
}

Channel = Literal["push", "inapp", "email", "sms", "device"]

# Profile columns a rule may read as attributes; custom attribute names never start with $.
BUILTIN_ATTRIBUTES: dict[str, str] = {
    "$external_id": "string",
    "$locale": "string",
    "$timezone": "string",
    "$country": "string",
    "$region": "string",
    "$city": "string",
    "$session_count": "number",
    "$created_at": "datetime",
    "$first_seen_at": "datetime",
    "$last_seen_at": "datetime",
}


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    KIND: ClassVar[str]


class And(_Node):
    """True when every child is (an empty `and` is true)."""

    KIND = "and"
    children: list[Rule] = Field(alias="and", max_length=MAX_CHILDREN)


class Or(_Node):
    """True when any child is (an empty `or` is false)."""

    KIND = "or"
    children: list[Rule] = Field(alias="or", max_length=MAX_CHILDREN)


class Not(_Node):
    KIND = "not"
    child: Rule = Field(alias="not")


class Attribute(_Node):
    """Compare a user attribute (or a `$` profile column) with a value."""

    KIND = "attribute"
    attribute: str = Field(min_length=1, max_length=129)
    op: AttributeOp
    value: Any = None
    case_insensitive: bool = False
    type: AttributeType | None = Field(
        None, description="Optional; filled in from the declared type when validated."
    )


class DeviceField(_Node):
    """One fact about a device; the fields of one `device` condition hold on the same device."""

    field: DeviceFieldName
    op: AttributeOp
    value: Any = None
    case_insensitive: bool = False


class Device(_Node):
    """`any`: some device of the user matches; `all`: the user has devices and all match."""

    KIND = "device"
    device: Literal["any", "all"]
    where: list[DeviceField] = Field(min_length=1, max_length=MAX_DEVICE_FIELDS)


class Event(_Node):
    """A behaviour condition over the profile's aggregates (never raw events)."""

    KIND = "event"
    event: str = Field(min_length=1, max_length=200)
    op: EventOp
    value: Any = None
    within_days: int | None = Field(None, ge=1, le=MAX_WINDOW_DAYS)


class Consent(_Node):
    """The user opted in to this channel (an explicit `true`)."""

    KIND = "consent"
    consent: Channel


class Near(_Node):
    """The user's last known location is within `radius_km` of the point [lat, lon]."""

    KIND = "near"
    near: tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]
    radius_km: float = Field(gt=0, le=20_100)


class Segment(_Node):
    """Membership of another segment; its rule is inlined (always fresh) when validated."""

    KIND = "segment"
    segment: int = Field(ge=1)
    # Filled by validation with the referenced segment's checked rule; never from input.
    rule: Rule | None = None


class Percentage(_Node):
    """A stable random slice: hash(seed, user) falls in the first `percentage` percent."""

    KIND = "percentage"
    percentage: float = Field(ge=0, le=100)
    seed: str = Field(min_length=1, max_length=64)


KINDS: tuple[type[_Node], ...] = (
    And,
    Or,
    Not,
    Attribute,
    Event,
    Device,
    Consent,
    Near,
    Segment,
    Percentage,
)
KIND_KEYS: tuple[str, ...] = tuple(k.KIND for k in KINDS)


def node_kind(value: Any) -> str | None:
    """The kind of a raw node (its first distinguishing key) or of a model instance."""
    if isinstance(value, dict):
        for key in KIND_KEYS:
            if key in value:
                return key
        return None
    kind = getattr(value, "KIND", None)
    return kind if isinstance(kind, str) else None


Rule = Annotated[
    Annotated[And, Tag("and")]
    | Annotated[Or, Tag("or")]
    | Annotated[Not, Tag("not")]
    | Annotated[Attribute, Tag("attribute")]
    | Annotated[Event, Tag("event")]
    | Annotated[Device, Tag("device")]
    | Annotated[Consent, Tag("consent")]
    | Annotated[Near, Tag("near")]
    | Annotated[Segment, Tag("segment")]
    | Annotated[Percentage, Tag("percentage")],
    Discriminator(
        node_kind,
        custom_error_type="unknown_condition",
        custom_error_message=(
            "unknown condition: a node has one of the keys and, or, not, attribute, event, "
            "device, consent, near, segment, percentage"
        ),
    ),
]

for _model in (And, Or, Not, Segment):
    _model.model_rebuild()


def dump(rule: Rule) -> dict[str, Any]:
    """The rule as JSON-ready data, with the same keys it is written with."""
    data: dict[str, Any] = rule.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data
