"""The AMI shapes Asterisk 20 documents, as data: header names, order, casing, Privilege class.

Sources (read, not copied; see tests/fixtures/ami/README.md for what each fixture was checked
against):

* event syntax: docs.asterisk.org/Asterisk_20_Documentation/API_Documentation/AMI_Events/<Event>
  (Newchannel, Newstate, Newexten, VarSet, Hangup, HangupRequest, SoftHangupRequest, DialBegin,
  DialEnd, DialState, BridgeCreate, BridgeEnter, BridgeLeave, BridgeDestroy, OriginateResponse,
  CoreShowChannel, CoreShowChannelsComplete, FullyBooted);
* ``Privilege: <class>,all`` right after ``Event:`` on broadcast events, none on the list events an
  action answers with (CoreShowChannel, CoreShowChannelsComplete): recorded Asterisk sessions in
  gawel/panoramisk ``tests/fixtures/*.yaml`` (login_ok, originate_with_events) and Asterisk's own
  ``main/manager.c`` (``manager_event`` adds Privilege; ``astman_append`` list items do not);
* responses: ``Response``, ``ActionID``, then ``EventList``/``Message`` (manager.c astman_send_*;
  panoramisk's login_ok / originate_sync recordings).

``check(msg)`` returns the problems with one message (empty = faithful).
"""

from __future__ import annotations

from telephony.ami.message import Message

#: the channel snapshot block (ast_manager_build_channel_state_string), in order
CHANNEL = ["Channel", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum",
           "ConnectedLineName", "Language", "AccountCode", "Context", "Exten", "Priority", "Uniqueid", "Linkedid"]
DEST = ["Dest" + name for name in CHANNEL]
BRIDGE = ["BridgeUniqueid", "BridgeType", "BridgeTechnology", "BridgeCreator", "BridgeName", "BridgeNumChannels",
          "BridgeVideoSourceMode", "?BridgeVideoSource"]

#: event -> (Privilege value or None when the docs' class is not sent, fields in order; "?" = optional)
EVENTS: dict[str, tuple[str | None, list[str]]] = {
    "Newchannel": ("call,all", CHANNEL),
    "Newstate": ("call,all", CHANNEL),
    "Newexten": ("dialplan,all", [*CHANNEL, "Extension", "Application", "AppData"]),
    "VarSet": ("dialplan,all", [*CHANNEL, "Variable", "Value"]),
    "Hangup": ("call,all", [*CHANNEL, "Cause", "Cause-txt", "?TechCause"]),
    "HangupRequest": ("call,all", [*CHANNEL, "Cause"]),
    "SoftHangupRequest": ("call,all", [*CHANNEL, "Cause"]),
    "DialBegin": ("call,all", [*CHANNEL, *DEST, "DialString"]),
    "DialState": ("call,all", [*CHANNEL, *DEST, "DialStatus", "?Forward"]),
    "DialEnd": ("call,all", [*CHANNEL, *DEST, "DialStatus", "?Forward"]),
    "BridgeCreate": ("call,all", BRIDGE),
    "BridgeDestroy": ("call,all", BRIDGE),
    "BridgeEnter": ("call,all", [*BRIDGE, *CHANNEL, "?SwapUniqueid"]),
    "BridgeLeave": ("call,all", [*BRIDGE, *CHANNEL]),
    "OriginateResponse": ("call,all", ["?ActionID", "Response", "Channel", "Context", "Exten", "Application", "Data",
                                       "Reason", "Uniqueid", "CallerIDNum", "CallerIDName"]),
    "CoreShowChannel": (None, ["ActionID", *CHANNEL, "BridgeId", "Application", "ApplicationData", "Duration"]),
    "CoreShowChannelsComplete": (None, ["ActionID", "EventList", "ListItems"]),
    # The FullyBooted a session gets right after Login is written by manager.c's action_login as
    # Privilege, Uptime, LastReload, Status (asterisk/asterisk main/manager.c); the docs page lists
    # Status first because it describes the boot-time broadcast. We only ever see the login one.
    "FullyBooted": ("system,all", ["Uptime", "LastReload", "Status"]),
}

#: originated outbound legs: OriginateResponse Reason is an AST_CONTROL_* code (include/asterisk/frame.h)
ORIGINATE_REASONS = {0: "failed / no such channel", 1: "hangup", 3: "ringing (no answer)", 4: "answered",
                     5: "busy", 8: "congestion"}
#: Cause -> Cause-txt as ast_cause2str prints them (main/causes, Q.850)
CAUSE_TXT = {1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy",
             18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
             34: "Circuit/channel congestion", 127: "Interworking, unspecified"}
CHANNEL_STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}


def _expected(fields: list[str], present: set[str]) -> list[str]:
    return [f.lstrip("?") for f in fields if not f.startswith("?") or f.lstrip("?") in present]


def check(msg: Message) -> list[str]:
    """Problems with one server message against the documented shape (actions are not checked)."""
    names = [k for k, _ in msg.headers]
    problems: list[str] = []
    if msg.kind == "response":
        if names[0] != "Response" or ("ActionID" in names and names[1] != "ActionID"):
            problems.append(f"a response starts Response, then ActionID when the action had one; got {names[:2]}")
        return problems
    if msg.kind != "event":
        return problems
    spec = EVENTS.get(msg.name)
    if spec is None:
        return [f"no documented shape recorded for {msg.name}"]
    privilege, fields = spec
    body = names[1:]
    if privilege is not None:
        if not body or body[0] != "Privilege" or msg["Privilege"] != privilege:
            problems.append(f"{msg.name}: second header must be 'Privilege: {privilege}'")
        body = body[1:]
    elif "Privilege" in body:
        problems.append(f"{msg.name}: list events carry no Privilege")
    if msg.name.startswith("Dial") and "Channel" not in body:
        fields = [f for f in fields if f not in CHANNEL]  # an Originate dials with no caller: no caller block
    want = _expected(fields, set(body))
    if body != want:
        missing = [f for f in want if f not in body]
        extra = [f for f in body if f not in want]
        problems.append(f"{msg.name}: fields {body} != documented {want} (missing {missing}, extra {extra})")
    state, desc = msg.get("ChannelState"), msg.get("ChannelStateDesc")
    if state is not None and desc != CHANNEL_STATE_DESC.get(int(state), desc):
        problems.append(f"{msg.name}: ChannelState {state} is {CHANNEL_STATE_DESC[int(state)]}, not {desc}")
    if msg.name == "Hangup":
        cause = int(msg.get("Cause") or -1)
        if cause in CAUSE_TXT and msg.get("Cause-txt") != CAUSE_TXT[cause]:
            problems.append(f"Hangup: Cause {cause} is {CAUSE_TXT[cause]!r}, not {msg.get('Cause-txt')!r}")
    if msg.name == "OriginateResponse":
        if int(msg["Reason"]) not in ORIGINATE_REASONS:
            problems.append(f"OriginateResponse: unknown Reason {msg['Reason']}")
        if (msg["Response"] == "Success") != (msg["Reason"] == "4"):
            problems.append("OriginateResponse: Success goes with Reason 4 (answered) and only with it")
        if msg["Response"] == "Failure" and msg["Uniqueid"] != "<null>":
            # manager.c fast_originate: no channel left -> the requested "tech/data" and "<null>"
            problems.append("OriginateResponse: a failed originate has no channel (Uniqueid <null>)")
    return problems
