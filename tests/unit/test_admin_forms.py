"""Pure parts of the admin pages: campaign form validation, codes, script merge, passwords, numbers."""

from __future__ import annotations

import pytest

from app.admin import codes
from app.admin.campaign_form import DEFAULT_FORM, parse_recycle_rules, validate_campaign_form
from app.admin.dnc import to_e164
from app.admin.lists import mapping_from_form
from app.admin.users import generate_password, password_problems
from app.admin.whatif import CampaignStats, run_whatif, scenario_for
from dialer.import_jobs import chunk_rows_for
from dialer.simulate_scenario import parse_scenario


def form(**changes):
    data = dict(DEFAULT_FORM, name="Spring", safe_harbor_audio="safe-harbor.wav")
    data.update(changes)
    return data


def test_default_form_is_valid_and_converts_units():
    clean = validate_campaign_form(form(target_abandon_rate="2.5", caller_id="(312) 555-0188", dial_statuses="new, na"))
    assert clean.ok, clean.errors
    assert clean.values["target_abandon_rate"] == pytest.approx(0.025)
    assert clean.values["caller_id"] == "+13125550188"
    assert clean.values["dial_statuses"] == ["NEW", "NA"]
    assert clean.values["calling_windows"]["mon"] == ["08:00", "21:00"]


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"name": ""}, "name", "required"),
    ({"dial_level": "abc"}, "dial_level", "not a number"),
    ({"max_dial_level": "25"}, "max_dial_level", "between 0 and 20"),
    ({"min_dial_level": "4", "max_dial_level": "3"}, "min_dial_level", "must not exceed"),
    ({"target_abandon_rate": "5"}, "target_abandon_rate", "310.4"),
    ({"dial_timeout_s": "10"}, "dial_timeout_s", "at least 15 s"),
    ({"drop_after_s": "1.5"}, "drop_after_s", "whole number"),
    ({"dial_method": "turbo"}, "dial_method", "choose one of"),
    ({"safe_harbor_audio": ""}, "safe_harbor_audio", "required"),
    ({"caller_id": "12"}, "caller_id", "not a valid phone number"),
    ({"dial_statuses": "NEW, bad-one"}, "dial_statuses", "invalid status codes"),
    ({"win_tue_start": "07:00"}, "win_tue_start", "TCPA"),
    ({"win_wed_end": "7pm"}, "win_wed_end", "HH:MM"),
    ({"win_thu_start": "12:00", "win_thu_end": "10:00"}, "win_thu_end", "after the start"),
    ({"recycle_rules": "NA sixty 3"}, "recycle_rules", "line 1"),
])
def test_each_bad_field_gets_its_own_message(changes, field, words):
    clean = validate_campaign_form(form(**changes))
    assert not clean.ok
    assert words in clean.errors[field], clean.errors
    assert set(clean.errors) == {field}, clean.errors  # the other fields stay quiet


def test_ofcom_window_allows_rates_above_three_percent():
    assert validate_campaign_form(form(abandon_window="ofcom_24h", target_abandon_rate="4")).ok


def test_empty_day_means_no_calls():
    clean = validate_campaign_form(form(win_sun_start="", win_sun_end=""))
    assert clean.ok and "sun" not in clean.values["calling_windows"]


def test_recycle_rules_parse():
    rules, problem = parse_recycle_rules("na 60 3\n\nB, 15, 2")
    assert problem is None and rules == [("NA", 3600, 3), ("B", 900, 2)]
    assert parse_recycle_rules("NA 1 1\nNA 2 2")[1] == "line 2: status NA appears twice"


def test_dispositions_and_pause_codes_round_trip():
    dispos = codes.parse_dispositions("SALE | Sale | human sale\nDNC | Do not call | human dnc\nDROP | Dropped | system")
    assert [(d.code, d.sale, d.dnc, d.selectable) for d in dispos] == [
        ("SALE", True, False, True), ("DNC", False, True, True), ("DROP", False, False, False)]
    assert codes.parse_dispositions(codes.dispositions_text(dispos)) == sorted(dispos, key=lambda d: d.code)
    pauses = codes.parse_pause_codes("LUNCH | Lunch | unpaid | 30\nTRAIN | Training | billable")
    assert pauses[0].max_s == 1800 and pauses[1].billable
    with pytest.raises(ValueError, match="unknown flags"):
        codes.parse_dispositions("X | y | teleport")
    with pytest.raises(ValueError, match="must be A-Z"):
        codes.parse_pause_codes("lunch break | x")


def test_script_merge_marks_missing_fields_and_runs_no_code():
    preview = codes.render_script("Hi {first_name} {last_name}, in {state}? {plan} {__class__} {0}",
                                  {"first_name": "Ann", "last_name": "", "state": "TX", "plan": "gold"})
    assert preview.text == "Hi Ann [missing: last_name], in TX? gold [missing: __class__] {0}"
    assert preview.missing == ("last_name", "__class__")
    attack = codes.render_script("{first_name.__class__.__mro__}", {"first_name": "Ann"})
    assert attack.text == "{first_name.__class__.__mro__}"  # not a placeholder: left as typed


def test_password_policy():
    assert password_problems("short") == ["at least 10 characters"]
    assert "must not contain the username" in password_problems("xxalice2024yy", "alice")
    assert password_problems("aaaaaaaaaaaa") == ["too repetitive"]
    pw = generate_password()
    assert len(pw) == 16 and password_problems(pw, "alice") == []


def test_phone_normalisation_for_dnc():
    assert to_e164("(312) 555-0188") == "+13125550188"
    assert to_e164("+44 20 7946 0958") == "+442079460958"
    for bad in ("", "hello", "555"):
        with pytest.raises(ValueError):
            to_e164(bad)


def test_mapping_from_form():
    assert mapping_from_form(["Phone", "Name", "Junk"], ["phone", "custom", "ignore"]) == {
        "Phone": "phone", "Name": "custom:Name", "Junk": "ignore"}


def test_chunk_rows_give_about_twenty_progress_steps():
    assert chunk_rows_for(0) == 200
    assert chunk_rows_for(40 * 20 * 1000) == 1000
    assert chunk_rows_for(10**10) == 50_000


def test_whatif_scenario_is_valid_and_predictive_beats_progressive():
    stats = CampaignStats(0.3, 0.15, 60, 10, 8, 0, "defaults")
    scenario = scenario_for(stats, target_abandon_rate=0.03, drop_after_s=2, dial_timeout_s=26, duration_s=1800)
    parse_scenario(scenario)
    rows = {r["method"]: r for r in run_whatif(scenario, ("progressive", "ratio"))}
    assert rows["progressive"]["abandon_rate"] == 0.0  # one line per idle agent never abandons
    assert rows["ratio"]["utilization"] > rows["progressive"]["utilization"]
    assert "Not enough call history" in stats.describe()


def test_import_task_is_registered_on_the_imports_queue():
    from dialer.celery_app import app
    from dialer.tasks import import_list

    assert import_list.name == "dialer.tasks.import_list"
    route = app.amqp.router.route({}, import_list.name)
    assert route["queue"].name == "imports"
