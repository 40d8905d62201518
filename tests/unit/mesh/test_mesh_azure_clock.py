"""Deadlines count on Azure's clock (the Snapshot's azure_time), not this
machine's; a Snapshot that has no Azure time falls back to its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mesh_estate import NOW, V1, cut, healthy, with_version

from mesh.assess import assess
from mesh.assessment import Assessment, Deadline, DeadlineKind
from mesh.gateway import azure_date
from mesh.render import to_json, to_text

E, C = "eastus2", "centralus"
AHEAD = timedelta(hours=3)  # a simulator clock three hours ahead of this machine


def deadline(assessment: Assessment, kind: DeadlineKind) -> Deadline:
    return next(d for d in assessment.deadlines if d.kind is kind)


def json_deadline(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(d for d in data["deadlines"] if d["kind"] == kind)


def test_a_cause_azure_gives_no_time_for_counts_from_azures_clock() -> None:
    snapshot = replace(cut(cut(healthy(), E, E), E, C), azure_time=NOW + AHEAD)

    assessment = assess(snapshot)

    heal = deadline(assessment, DeadlineKind.AUTO_HEAL)
    assert heal.at == NOW + AHEAD + timedelta(minutes=30)
    assert assessment.now == NOW + AHEAD
    assert assessment.taken_at == NOW


def test_without_azures_time_the_snapshot_counts_from_its_own_timestamp() -> None:
    assessment = assess(cut(cut(healthy(), E, E), E, C))

    heal = deadline(assessment, DeadlineKind.AUTO_HEAL)
    assert heal.at == NOW + timedelta(minutes=30)
    assert assessment.now == NOW
    assert to_json(assessment)["deadlines"][0]["remaining_seconds"] > 0


def test_the_countdown_from_a_dated_cause_follows_azures_clock() -> None:
    disabled_at = NOW + AHEAD - timedelta(minutes=4)
    broken = with_version(healthy(), E, V1, enabled=False, updated=disabled_at)
    ten_minutes_later = replace(broken, azure_time=NOW + AHEAD + timedelta(minutes=10))

    first = to_json(assess(replace(broken, azure_time=NOW + AHEAD)))
    later = to_json(assess(ten_minutes_later))

    heal_first, heal_later = (json_deadline(d, "auto_heal") for d in (first, later))
    assert heal_first["at"] == heal_later["at"]
    assert heal_first["at"] == (disabled_at + timedelta(minutes=30)).isoformat()
    assert heal_first["remaining_seconds"] == 26 * 60
    assert heal_later["remaining_seconds"] == 16 * 60
    assert later["now"] == (NOW + AHEAD + timedelta(minutes=10)).isoformat()


def test_a_key_that_expired_on_azures_clock_is_expired_whatever_this_machine_says() -> (
    None
):
    expires = NOW + timedelta(hours=1)  # still ahead on this machine's clock
    snapshot = replace(
        with_version(healthy(), E, V1, expires=expires), azure_time=NOW + AHEAD
    )

    assessment = assess(snapshot)

    assert assessment.by_code("KEY_EXPIRED")
    heal = deadline(assessment, DeadlineKind.AUTO_HEAL)
    assert heal.at == expires + timedelta(minutes=30)


def test_the_text_report_says_how_long_is_left_on_azures_clock() -> None:
    snapshot = replace(cut(cut(healthy(), E, E), E, C), azure_time=NOW + AHEAD)

    text = to_text(assess(snapshot))

    assert "in 30 min" in text and "in 10 min" in text
    assert f"({NOW + AHEAD:%Y-%m-%d %H:%M:%SZ})" in text


def test_azures_date_header_is_read_as_utc() -> None:
    moment = datetime(2026, 12, 3, 19, 4, 5, tzinfo=UTC)
    assert azure_date({"Date": "Thu, 03 Dec 2026 19:04:05 GMT"}) == moment
    assert azure_date({"Date": "Thu, 03 Dec 2026 19:04:05 -0000"}) == moment
    assert azure_date({"Date": "yesterday"}) is None
    assert azure_date({}) is None
