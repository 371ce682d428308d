"""Telephony's exception tree (translated once, at the AMI / ARI edge).

    PyDialerError (core.exceptions)
    └── TelephonyError            anything that went wrong talking to a PBX
        ├── PbxUnavailable        not connected / login not done / connection lost mid-action
        ├── PbxAuthError          AMI login or ARI credentials refused
        ├── PbxTimeout            the PBX did not answer an action / request in time
        ├── ActionFailed          AMI ``Response: Error`` / ARI 4xx-5xx; ``details`` has the reply
        │   └── ChannelNotFound   the channel is gone (AMI "No such channel", ARI 404)
        └── UnknownCall           we have no channel for this call_id on any PBX
"""

from __future__ import annotations

from core.exceptions import PyDialerError


class TelephonyError(PyDialerError):
    error_id = "telephony_error"
    http_status = 502


class PbxUnavailable(TelephonyError):
    error_id = "pbx_unavailable"
    http_status = 503


class PbxAuthError(TelephonyError):
    error_id = "pbx_auth_failed"


class PbxTimeout(TelephonyError):
    error_id = "pbx_timeout"
    http_status = 504


class ActionFailed(TelephonyError):
    error_id = "pbx_action_failed"


class ChannelNotFound(ActionFailed):
    error_id = "channel_not_found"
    http_status = 404


class UnknownCall(TelephonyError):
    error_id = "unknown_call"
    http_status = 404
