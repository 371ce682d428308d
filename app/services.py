"""The objects one web process shares across requests, built once by :func:`app.create_app`.

They hang off ``flask_app.extensions["pydialer"]`` (the Flask extension convention) rather than
module globals, so two apps in one process (the tests build several) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import flask
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock, SystemClock
from core.config import Settings

EXTENSION_KEY = "pydialer"


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis.Redis
    clock: Clock = field(default_factory=SystemClock)


def get_services(app: flask.Flask | None = None) -> Services:
    target = app if app is not None else flask.current_app
    services: Services = target.extensions[EXTENSION_KEY]
    return services
