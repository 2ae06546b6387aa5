"""State thresholds: MLRun's time-string grammar, state names, effective limits, verdicts."""

from __future__ import annotations

import pytest

from mlctl.runs import thresholds

MONTH = 30.5 * 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1 minute and 30s", 90),
        ("30 minutes 5h 1day", 106200),
        ("1d 2 hours", 93600),
        ("30h 19 min", 109140),
        ("1h, 30m", 5400),
        ("1.5h", 5400),
        ("1000s", 1000),
        ("3m", 180),
        ("30 s", 30),
        ("1s", 1),
        ("and 1 minute", 60),
        ("1h and 30m", 5400),
        ("1h\t30m", 5400),
        ("1 min,30 s", 90),
        ("2 weeks", 1209600),
        ("1w", 604800),
        ("1M", MONTH),
        ("2 months", 2 * MONTH),
        ("1y", 365 * 86400),
        ("1 hr", 3600),
        ("1 Hour", 3600),
        ("5m 5m", 600),
        (".5m", 30),
    ],
)
def test_time_string_is_read_as_seconds(text: str, seconds: float) -> None:
    assert thresholds.parse_seconds(text) == seconds


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1H", "unknown unit 'H'"),
        ("3mm", "unknown unit 'mm'"),
        ("1 minute and", "trailing 'and'"),
        ("and", "trailing 'and'"),
        ("10", "not a valid time string"),
        ("", "not a valid time string"),
        ("   ", "not a valid time string"),
        ("1.2.3h", "not a valid time string"),
        ("-2h", "not a valid time string"),
        ("1m30", "not a valid time string"),
        ("h1", "not a valid time string"),
        ("\u0663s", "not a valid time string"),  # ARABIC-INDIC DIGIT THREE
        ("\uff11h", "not a valid time string"),  # FULLWIDTH DIGIT ONE
        ("1\u0663m", "not a valid time string"),
        ("0.5s", "shorter than the minimum of 1 second"),
        ("0s", "shorter than the minimum of 1 second"),
    ],
)
def test_bad_time_string_is_refused_with_the_reason(value: str, reason: str) -> None:
    with pytest.raises(thresholds.TimeStringError, match=reason):
        thresholds.parse_seconds(value)


def test_single_letter_units_are_case_sensitive() -> None:
    assert thresholds.parse_seconds("1m") == 60
    assert thresholds.parse_seconds("1M") == MONTH
    with pytest.raises(thresholds.TimeStringError):
        thresholds.parse_seconds("1H")


@pytest.mark.parametrize("value", ["-1", " -1 ", -1])
def test_minus_one_means_no_limit_as_string_or_number(value: object) -> None:
    assert thresholds.parse_seconds(value) == thresholds.NO_LIMIT


@pytest.mark.parametrize("value", [0, 10, 3600, -2, 1.5])
def test_numbers_other_than_minus_one_are_refused(value: object) -> None:
    with pytest.raises(thresholds.TimeStringError, match="must be a string with a unit"):
        thresholds.parse_seconds(value)


@pytest.mark.parametrize("value", [True, None, ["1h"], {"h": 1}])
def test_values_that_are_not_strings_are_refused(value: object) -> None:
    with pytest.raises(thresholds.TimeStringError, match="must be a string"):
        thresholds.parse_seconds(value)


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("running", "running"),
        ("executing", "running"),
        ("pending_scheduled", "pending_scheduled"),
        ("pending_not_scheduled", "pending_not_scheduled"),
        ("image_pull_backoff", "image_pull_backoff"),
        ("pending", None),
        ("Running", None),
    ],
)
def test_state_names_and_the_executing_alias(name: str, state: str | None) -> None:
    assert thresholds.canonical_state(name) == state


def test_defaults_are_mlruns() -> None:
    effective = thresholds.effective(None)

    assert dict(effective.texts) == {
        "pending_scheduled": "1h",
        "pending_not_scheduled": "-1",
        "image_pull_backoff": "1h",
        "running": "24h",
    }
    assert effective.limit("pending_scheduled") == 3600
    assert effective.limit("pending_not_scheduled") == thresholds.NO_LIMIT
    assert effective.limit("running") == 86400


def test_function_thresholds_lie_over_the_defaults_in_either_spelling() -> None:
    effective = thresholds.effective({"executing": "2h", "image_pull_backoff": "30s"})

    assert effective.limit("running") == 7200
    assert effective.limit("image_pull_backoff") == 30
    assert effective.limit("pending_scheduled") == 3600


def test_per_run_thresholds_replace_the_functions_then_defaults_fill() -> None:
    function = {"running": "2h", "image_pull_backoff": "30s"}

    effective = thresholds.effective(function, {"pending_scheduled": "5m"})

    assert effective.limit("pending_scheduled") == 300
    assert effective.limit("image_pull_backoff") == 3600  # the default, not the function's 30s
    assert effective.limit("running") == 86400  # the default, not the function's 2h


def test_empty_per_run_thresholds_keep_the_functions() -> None:
    assert thresholds.effective({"running": "2h"}, {}).limit("running") == 7200


def test_breach_names_state_time_spent_and_limit() -> None:
    effective = thresholds.effective({"pending_not_scheduled": "5m"})

    assert thresholds.breach(effective, "pending_not_scheduled", 300) is None
    assert thresholds.breach(effective, "pending_not_scheduled", 303) == (
        "Run aborted due to exceeded state threshold: pending_not_scheduled (waited 5m3s, limit 5m)"
    )


def test_no_limit_is_never_breached() -> None:
    effective = thresholds.effective(None)

    assert thresholds.breach(effective, "pending_not_scheduled", 10 * 365 * 86400) is None


@pytest.mark.parametrize(
    ("seconds", "text"), [(303, "5m3s"), (3600, "1h"), (90061, "1d1h1m1s"), (0, "0s"), (-1, "no limit")]
)
def test_durations_print_short(seconds: float, text: str) -> None:
    assert thresholds.format_seconds(seconds) == text
