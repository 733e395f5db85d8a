"""Imports every room's tables so `Base.metadata` is complete (Alembic, tests)."""

from tidings.db import Base
from tidings.devices import models as _devices
from tidings.events import models as _events
from tidings.profiles import models as _profiles
from tidings.segments import models as _segments
from tidings.tenancy import models as _tenancy
from tidings.users import models as _users

metadata = Base.metadata

__all__ = ["_devices", "_events", "_profiles", "_segments", "_tenancy", "_users", "metadata"]
