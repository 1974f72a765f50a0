"""``parse_schedule(text, now).next()`` against the schedule corpus
(``../shared/reference/schedules.json``), for mrsm and for Meerschaum 4.1.7.

mrsm gives every record's answer. Meerschaum's ``parse_schedule`` gives the same
answer for the reference's records except in two ways, each named here, and any
other difference fails the test:

- ``trigger-lists-the-past``: its ``next()`` is the bare trigger's, which starts at a
  past ``starting`` instead of firing once at ``now`` (R1: its job loop does the
  catch-up, its ``parse_schedule`` does not);
- ``relative-start-uses-the-clock``: a ``starting`` without a date (``00:30``,
  ``Monday at 12:15 PM``) is read against the real clock, not ``now``.

The ``corrected`` records are where the corpus lists Meerschaum's faults (R3–R7):
mrsm's documented answer is asserted for each, by rule.
"""

import json
import os
import re
from datetime import datetime

import pytest

from mrsm_jobs import ScheduleError, parse_schedule

CORPUS = os.environ.get(
    "MRSM_SCHEDULE_CORPUS",
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "reference", "schedules.json"),
)
CASES = json.load(open(CORPUS, encoding="utf-8"))


def when(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def fires(parse, case):
    schedule = parse(case["schedule"], now=when(case["now"]))
    return [schedule.next() for _ in case["next"]]


def rule(case):
    match = re.search(r"\b(R\d+)\b", case.get("note", ""))
    return match.group(1) if match else "added"


def test_the_reference_example():
    schedule = parse_schedule("daily starting 2024-01-01", now=when("2024-01-01T00:00:00Z"))
    assert schedule.next() == when("2024-01-01T00:00:00Z")
    assert schedule.next() == when("2024-01-02T00:00:00Z")
    assert schedule.next().tzinfo is not None


@pytest.mark.parametrize("source", ["reference", "corrected"])
def test_mrsm_gives_every_record_s_answer(source):
    wrong = []
    for case in (c for c in CASES if c["source"] == source):
        try:
            if case["expect"] == "error":
                with pytest.raises(ScheduleError):
                    parse_schedule(case["schedule"], now=when(case["now"]))
                continue
            got = parse_schedule(case["schedule"], now=when(case["now"]))
            if case["expect"] == "never":
                assert got.next() is None
                continue
            assert [got.next() for _ in case["next"]] == [when(t) for t in case["next"]]
        except (AssertionError, pytest.fail.Exception, ScheduleError) as e:
            wrong.append((rule(case), case["schedule"], case["now"], str(e)[:200]))
    assert not wrong, "\n".join(map(str, wrong))


def meerschaum_difference(case, got):
    """The name of the known way Meerschaum's answer differs, or None."""
    expected = [when(t) for t in case["next"]]
    now = when(case["now"])
    if got == expected:
        return "same"
    if got[0] < now:
        return "trigger-lists-the-past"
    start = re.split(r"(?i)\b(?:starting|beginning)\b", case["schedule"])[1:]
    if start and not re.search(r"\d{4}", start[0]):
        return "relative-start-uses-the-clock"
    return None


def test_meerschaum_agrees_but_for_its_named_differences():
    ms = pytest.importorskip("meerschaum.utils.schedule")
    counts, unexplained = {}, []
    for case in (c for c in CASES if c["source"] == "reference" and c["expect"] == "fires"):
        got = fires(ms.parse_schedule, case)
        kind = meerschaum_difference(case, got)
        counts[kind] = counts.get(kind, 0) + 1
        if kind is None:
            unexplained.append((case["schedule"], case["now"], got[:3], case["next"][:3]))
    assert not unexplained, "\n".join(map(str, unexplained))
    # Most records agree outright: a broken comparison would not.
    assert counts.get("same", 0) > 250, counts


@pytest.mark.parametrize(
    "name", sorted({rule(c) for c in CASES if c["source"] == "corrected"})
)
def test_where_meerschaum_is_wrong_mrsm_gives_the_corpus_answer(name):
    cases = [c for c in CASES if c["source"] == "corrected" and rule(c) == name]
    assert cases, f"no corrected record names {name}"
    for case in cases:
        if case["expect"] == "error":
            with pytest.raises(ScheduleError):
                parse_schedule(case["schedule"], now=when(case["now"]))
        elif case["expect"] == "never":
            assert parse_schedule(case["schedule"], now=when(case["now"])).next() is None
        else:
            assert fires(parse_schedule, case) == [when(t) for t in case["next"]], case


def test_a_typo_is_a_schedule_error_naming_the_column():
    with pytest.raises(ScheduleError, match=r"column \d+") as raised:
        parse_schedule("every 5 minuets")
    assert isinstance(raised.value, ValueError)
    assert "minuets" in str(raised.value)
