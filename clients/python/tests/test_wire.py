"""The shared wire vectors (events/testdata/wire): the same files Go and TypeScript test against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from purgebus import ContentChanged, InvalidEventError, Result
from purgebus.wirejson import parse_time

WIRE = Path(__file__).resolve().parents[3] / "events" / "testdata" / "wire"
INPUT_KEYS = {
    "source",
    "id",
    "occurred_at",
    "urls",
    "urls_generate",
    "tags",
    "cpcodes",
    "action",
    "network",
    "metadata",
}


def cases(name: str) -> list[dict[str, Any]]:
    data = json.loads((WIRE / name).read_text(encoding="utf-8"))
    assert len(data["cases"]) >= 5, f"{name} has too few cases"
    return list(data["cases"])


def build(inp: dict[str, Any]) -> ContentChanged:
    """build makes the event with the Python builder, as a publisher's caller would."""
    unknown = set(inp) - INPUT_KEYS
    assert not unknown, f"unknown input keys {unknown}: the test must learn them"
    e = ContentChanged.new(inp.get("source", ""))
    e.id = inp.get("id", "")
    if "occurred_at" in inp:
        e.occurred_at = inp["occurred_at"]
    e.add_urls(*inp.get("urls") or [])
    gen = inp.get("urls_generate")
    if gen:
        e.add_urls(*(f"{gen['prefix']}{i}" for i in range(gen["count"])))
    e.add_tags(*inp.get("tags") or []).add_cpcodes(*inp.get("cpcodes") or [])
    if inp.get("action"):
        e.with_action(inp["action"])
    if inp.get("network"):
        e.with_network(inp["network"])
    for k in sorted(inp.get("metadata") or {}):
        e.with_metadata(k, inp["metadata"][k])
    return e


@pytest.mark.parametrize("case", cases("events.json"), ids=lambda c: c["name"])
def test_events_encode_byte_for_byte(case: dict[str, Any]) -> None:
    e = build(case["input"])
    assert e.encode() == case["json"].encode("utf-8")
    e.ensure_id()
    assert e.validate() == e.encode(), "the publisher must accept every valid case as it is"


@pytest.mark.parametrize("case", cases("invalid_events.json"), ids=lambda c: c["name"])
def test_invalid_events_refused_before_publishing(case: dict[str, Any]) -> None:
    e = build(case["input"])
    if not e.id:
        e.id = "wire-test"
    with pytest.raises(InvalidEventError) as info:
        e.validate()
    assert info.value.code == case["error"], str(info.value)


def test_invalid_events_cover_every_class() -> None:
    classes = {c["error"] for c in cases("invalid_events.json")}
    assert classes >= {"no_objects", "relative_url", "not_http", "bad_url", "bad_action", "bad_network"}
    assert classes >= {"bad_cpcode", "bad_tag", "bad_id", "too_large", "bad_metadata"}


OPTIONAL = {
    "source": "",
    "estimated_complete_at": None,
    "subject": "",
    "correlation_id": "",
    "metadata": {},
}
PURGE_OPTIONAL = {"account": "", "accepted_at": None, "escalation": None}
FAILURE_OPTIONAL = {"detail": "", "support_id": "", "http_status": 0, "type": "", "action": "", "network": ""}


def same(got: Any, want: Any, key: str) -> None:
    if key.endswith("_at"):
        assert got == parse_time(want), key
    else:
        assert got == want, key


def compare(obj: Any, expect: dict[str, Any], optional: dict[str, Any], nested: dict[str, Any]) -> None:
    for key, want in expect.items():
        got = getattr(obj, key)
        if key in nested:
            assert len(got) == len(want), key
            for g, w in zip(got, want, strict=True):
                nested[key](g, w)
        elif key == "escalation":
            assert got is not None
            assert (got.type, got.object, got.reason) == (want["type"], want["object"], want["reason"])
        elif key == "outcome":
            assert got.value == want
        else:
            same(got, want, key)
    for key, empty in optional.items():
        if key not in expect:
            assert getattr(obj, key) == empty, f"{key} is absent on the wire"


def compare_purge(p: Any, want: dict[str, Any]) -> None:
    compare(p, want, PURGE_OPTIONAL, {})


def compare_failure(f: Any, want: dict[str, Any]) -> None:
    compare(f, want, FAILURE_OPTIONAL, {})


@pytest.mark.parametrize("case", cases("results.json"), ids=lambda c: c["name"])
def test_results_parse(case: dict[str, Any]) -> None:
    r = Result.decode(case["json"])
    compare(r, case["expect"], OPTIONAL, {"purges": compare_purge, "failures": compare_failure})


def test_results_include_an_escalation() -> None:
    rs = [Result.decode(c["json"]) for c in cases("results.json")]
    assert any(p.escalation for r in rs for p in r.purges)
