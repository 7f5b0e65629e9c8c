"""The fault soak, short (tests/soak.py): 120 questions at concurrency 16 on both backends, every
fault the emulator scripts, one emulator restart; the long one is ``python -m tests.soak``.

The soak runs once per module (the ``report`` fixture); each test reads one promise from it. The
judge itself is tested first, on made-up endings, so a soak cannot pass by judging leniently.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from soak import (
    BACKENDS,
    BURST_MARK,
    KINDS,
    Outcome,
    Report,
    Spec,
    Window,
    judge,
    soak,
)

from keep_openaiassistant import AskResult, errors

#: Generous: the short soak takes ~10 s on a quiet 2-core machine.
SOAK_BUDGET = 120.0


@pytest.fixture(scope="module")
def report() -> Iterator[Report]:
    logger = logging.getLogger("keep_openaiassistant")
    quiet = logging.NullHandler()
    logger.addHandler(quiet)
    try:
        yield soak(120, 16, seed=7)
    finally:
        logger.removeHandler(quiet)


# -- the judge ---------------------------------------------------------------------------------


def _ended(
    spec: Spec, *, seconds: float = 0.5, result: AskResult | None = None, error: BaseException | None = None
) -> Outcome:
    return Outcome(spec, started=100.0, ended=100.0 + seconds, result=result, error=error)


def _answer(spec: Spec, text: str) -> AskResult:
    return AskResult(
        text=text, response=text, thread_id="thread_1", run_id="run_1", status="completed", backend=spec.backend
    )


PLAIN = Spec(index=1, kind="answer", backend="assistants", token="SOAK-00001-abcdef", prompt="x", max_wait_time=5.0)
FAILED = Spec(
    index=2,
    kind="failed",
    backend="assistants",
    token="SOAK-00002-abcdef",
    prompt="x",
    max_wait_time=5.0,
    expect="RunFailedError",
)


def test_the_judge_accepts_an_answer_that_quotes_its_own_token() -> None:
    assert judge(_ended(PLAIN, result=_answer(PLAIN, f'Triage of "{PLAIN.token}"')), []) == []


def test_the_judge_calls_another_questions_token_cross_talk() -> None:
    found = judge(_ended(PLAIN, result=_answer(PLAIN, "Triage of SOAK-00009-abcdef")), [])
    assert any("cross-talk" in p for p in found)
    assert any("without its own token" in p for p in found)


def test_the_judge_refuses_an_error_its_fault_does_not_call_for() -> None:
    error = errors.RunIncompleteError("stopped", reason="max_tokens")
    assert judge(_ended(FAILED, error=error), []) != []
    assert judge(_ended(FAILED, error=errors.RunFailedError("failed", code="server_error", detail="x")), []) == []


def test_the_judge_refuses_an_answer_to_a_question_whose_fault_calls_for_an_error() -> None:
    assert judge(_ended(FAILED, result=_answer(FAILED, FAILED.token)), []) != []


def test_the_judge_counts_a_return_past_the_deadline_plus_one_second() -> None:
    late = judge(_ended(PLAIN, seconds=6.2, result=_answer(PLAIN, PLAIN.token)), [])
    assert any("past its max_wait_time" in p for p in late)
    assert judge(_ended(PLAIN, seconds=5.9, result=_answer(PLAIN, PLAIN.token)), []) == []


def test_the_judge_calls_a_question_without_an_outcome_lost() -> None:
    assert judge(Outcome(PLAIN, started=100.0), []) == ["lost: no outcome (hung)"]
    crashed = judge(_ended(PLAIN, error=RecursionError("deep")), [])
    assert any("not an AssistantError" in p for p in crashed)


def test_the_judge_excuses_a_rate_limit_only_inside_a_burst_that_explains_it() -> None:
    error = errors.RateLimitError(f"POST /threads/runs answered HTTP 429: Rate limit ({BURST_MARK}).", status_code=429)
    outcome = _ended(PLAIN, error=error)
    assert judge(outcome, []) != []  # no burst queued while it ran
    assert judge(outcome, [Window("429", 99.0, 101.0)]) == []
    assert judge(outcome, [Window("429", 101.0, 102.0)]) != []  # the burst came after it ended
    unexplained = _ended(PLAIN, error=errors.RateLimitError("429 from elsewhere", status_code=429))
    assert judge(unexplained, [Window("429", 99.0, 101.0)]) != []


def test_the_judge_excuses_restart_errors_only_for_questions_in_flight_at_the_restart() -> None:
    error = errors.ConnectionFailedError("could not reach the server", reached_server=False)
    assert judge(_ended(PLAIN, error=error), []) != []
    assert judge(_ended(PLAIN, error=error), [Window("restart", 100.2, 101.0)]) == []


# -- the soak ---------------------------------------------------------------------------------


def test_the_soak_asks_every_fault_on_both_backends_and_restarts_the_emulator(report: Report) -> None:
    asked = {(o.spec.kind, o.spec.backend) for o in report.outcomes}
    assert asked == {(kind, backend) for kind in KINDS for backend in BACKENDS}, report.render()
    assert report.restart_times is not None, report.render()
    in_flight = [o for o in report.outcomes if any(w.kind == "restart" and w.overlaps(o) for w in report.windows)]
    assert len(in_flight) >= 4, report.render()
    assert any(w.kind == "429" for w in report.windows) and any(w.kind == "5xx" for w in report.windows)
    assert report.wall < SOAK_BUDGET, report.render()


def test_no_question_is_lost(report: Report) -> None:
    assert not report.lost, report.render()
    assert report.answered + sum(report.errors_by_class.values()) == report.questions


def test_no_answer_holds_another_questions_text(report: Report) -> None:
    assert not report.cross_talk, report.render()
    run_ids = [o.result.run_id for o in report.outcomes if o.result is not None]
    assert len(run_ids) == len(set(run_ids)), "two questions were answered by the same run"


def test_no_ask_returns_later_than_its_deadline_plus_one_second(report: Report) -> None:
    assert not report.past_deadline, report.render()


def test_every_question_ends_in_its_answer_or_the_error_its_fault_calls_for(report: Report) -> None:
    assert not sorted(report.mismatched), report.render()


def test_no_run_is_left_active_on_the_server(report: Report) -> None:
    assert not report.left_active, report.render()
    assert report.server.gone[False] == 0, report.render()  # only the restart loses state
    assert report.server.runs > 0, report.render()
