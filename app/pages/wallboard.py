"""``/wallboard``, ``/wallboard/<campaign>``, ``/wallboard/tv`` (or ``?tv=1``): the live wallboard.

Nothing on this page polls: ``assets/wallboard.js`` opens ONE ``EventSource`` on
``/api/push/wallboard`` (:mod:`app.push`) and renders each pushed snapshot into the skeleton of
:mod:`app.wallboard.layout`. The only server callback is the monitor request (listen / whisper /
barge), which the guard already limits to this page's roles; it checks the role again itself.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import flask
from dash import Input, Output, html
from flask_login import current_user

from app import push
from app.pages import current_role, register_page
from app.services import get_services
from app.wallboard import layout as wb_layout
from app.wallboard.monitor import MonitorRequest, default_endpoint, send_monitor
from core.exceptions import PyDialerError

logger = logging.getLogger(__name__)

ROLES = push.WALLBOARD_ROLES
TV_WORDS = ("1", "true", "yes", "on")
def layout(campaign: str | None = None, tv: str | None = None, rotate: str | None = None,
           **_query: Any) -> html.Div:
    campaign = (campaign or "").strip()
    tv_mode = campaign == "tv" or (tv or "").lower() in TV_WORDS
    if campaign == "tv" or not campaign.isdigit():
        campaign = ""
    user_id = getattr(current_user, "id", "") if current_user and current_user.is_authenticated else ""
    return wb_layout.build(campaign, tv_mode, default_endpoint(user_id) if user_id else "", wb_layout.rotate_seconds(rotate))


def monitor(request: Any) -> str:
    """Send a MonitorCommand for the agent's call and audit it; returns a line for the status area."""
    if not request:
        return ""
    if current_role() not in ROLES:  # the guard refuses first; this is the second lock
        return "not allowed"
    services = get_services()
    from core import audit
    from core.models import User
    from dialer.live import LiveState

    try:
        req = MonitorRequest.parse(request, current_user.id)
        command = send_monitor(LiveState(services.redis), req)
    except PyDialerError as exc:
        return f"Monitor failed: {exc}"
    with services.sessions() as session, session.begin():
        actor = session.get(User, int(current_user.id))
        audit.record(session, actor=actor, action=f"monitor.{req.mode}", object_type="agent",
                     object_id=req.agent_id, after={"call_id": command.call_id, "endpoint": req.endpoint},
                     ip=flask.request.remote_addr)
    return f"{req.mode.capitalize()}: calling {req.endpoint} into agent {req.agent_id}'s call"


def register(dash_app: dash.Dash) -> None:
    push.init_app(dash_app.server)
    dash_app.callback(
        Output("wallboard-monitor-result", "children"),
        Input("wallboard-monitor-request", "data"),
        prevent_initial_call=True,
    )(monitor)


register_page(
    __name__,
    name="wallboard",
    path="/wallboard",
    path_template="/wallboard/<campaign>",
    title="Wallboard",
    roles=ROLES,
    layout=layout,
    callbacks=register,
    order=11,
    description="Real-time operations board pushed to every screen: agents, calls, abandon rate, alerts.",
)
