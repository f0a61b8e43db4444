"""The hooks of tests/contract_checks.py agree with the service: for positive cases drawn from the
published schema (without the hooks), the rule ``refusal`` names is what the server answers.

- no rule: the server accepts the request (never 422, 406 or 412);
- a rule: the server refuses it with that rule's status (422; 406 and 412 for negotiation and
  If-None-Match; 413 where a small limit is passed).

So the hooks drop no request the server would take (positive_data_acceptance keeps its reach) and
keep none it refuses (the check's failures are the schema's). Drawn without the hooks: schemathesis's
own strategy, with the uploads the map hook puts in."""

from __future__ import annotations

import hypothesis
import pytest
from schemathesis import GenerationMode

from ..contract_checks import refusal, with_uploads
from .published import schema

pytestmark = pytest.mark.slow  # drawn cases, each sent to the app

OPERATIONS = [
    ("/init", "POST"),
    ("/init", "GET"),
    ("/diagnostics", "POST"),
    ("/init/checkpoint/{file}", "POST"),
    ("/diagnostics/network", "POST"),
    ("/init/lsuv", "POST"),
    ("/pretrain", "POST"),
]
REFUSED = {"406", "412", "413", "422"}


def _status(rule: str) -> set[int]:
    """The statuses a rule's refusal is answered with."""
    if rule.startswith("413"):
        return {413}
    if "(406)" in rule:
        return {406}
    if "(412)" in rule:
        return {412}
    return {422}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # as in test_fuzz: the server's numpy warnings
@pytest.mark.parametrize("path, method", OPERATIONS)
def test_the_hooks_verdict_is_the_servers(send, call, path, method):
    operation = schema[path][method]
    strategy = operation.schema.get_case_strategy(operation, generation_mode=GenerationMode.POSITIVE)
    seen: dict[str, int] = {}

    @hypothesis.settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def check(case):
        case.body = with_uploads(path, case.body)
        file = (case.path_parameters or {}).get("file")
        rule = refusal(path, method, case.body, case.query or {}, case.headers or {}, file)
        status = send(case).status_code if rule is None else call(case).status_code
        seen[rule or "accepted"] = seen.get(rule or "accepted", 0) + 1
        if rule is None:
            assert str(status) not in REFUSED or status == 413, f"{case.as_curl_command()} answered {status}"
        else:
            assert status in _status(rule), f"{rule}, but {case.as_curl_command()} answered {status}"

    check()
    assert seen.get("accepted", 0) > 0, f"no case of {method} {path} was kept: {seen}"
