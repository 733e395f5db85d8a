"""Imports every room's tables so `Base.metadata` is complete (Alembic, tests)."""

from tidings.analytics import models as _analytics
from tidings.campaigns import models as _campaigns
from tidings.db import Base
from tidings.deliveries import models as _deliveries
from tidings.delivery import models as _delivery
from tidings.devices import models as _devices
from tidings.events import models as _events
from tidings.jobs import models as _jobs
from tidings.profiles import models as _profiles
from tidings.push import models as _push
from tidings.segments import models as _segments
from tidings.tenancy import models as _tenancy
from tidings.users import models as _users

metadata = Base.metadata

__all__ = [
    "_analytics",
    "_campaigns",
    "_deliveries",
    "_delivery",
    "_devices",
    "_events",
    "_jobs",
    "_profiles",
    "_push",
    "_segments",
    "_tenancy",
    "_users",
    "metadata",
]
