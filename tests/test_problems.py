"""service.problems: RFC 9457 problem documents and the exception that carries one (web-free: the
CLI raises and reads them too; service.handlers turns them into answers, tests/test_handlers.py)."""

from http import HTTPStatus

import pytest

from service.problems import PROBLEM, Problem, ProblemError, problem_body
from service.spec.errors import field_error


def test_the_media_type_is_rfc_9457s():
    assert PROBLEM == "application/problem+json"


def test_a_plain_problem_has_the_blank_type_and_the_status_phrase_as_its_title():
    assert problem_body(404, "no such resource: /x") == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "no such resource: /x",
    }


@pytest.mark.parametrize("status", [400, 406, 408, 412, 413, 415, 422, 500, 503])
def test_the_title_is_the_standard_reason_phrase(status):
    assert problem_body(status, "d")["title"] == HTTPStatus(status).phrase and problem_body(status, "d")["title"]


def test_a_kind_names_the_type_uri_and_the_instance_and_errors_are_kept():
    errors = [field_error("tensors.0.scheme.std", "must be positive", "> 0")]
    body = problem_body(422, "invalid", "/init", kind="invalid-request", errors=errors)
    assert body["type"] == "https://initw.dev/problems/invalid-request" and body["instance"] == "/init"
    assert body["errors"] == [{"field": "tensors.0.scheme.std", "pointer": "/tensors/0/scheme/std",
                               "message": "must be positive", "allowed": "> 0"}]  # fmt: skip


def test_an_error_without_allowed_values_leaves_the_key_out():
    body = problem_body(422, "invalid", errors=[field_error("seed", "must be an integer")])
    assert body["errors"] == [{"field": "seed", "pointer": "/seed", "message": "must be an integer"}]


def test_the_document_validates_as_the_published_problem_model():
    body = problem_body(413, "too large", "/init", kind="too-many-elements")
    assert Problem.model_validate(body).model_dump(exclude_none=True) == body


def test_a_problem_error_carries_status_detail_kind_errors_and_headers():
    error = ProblemError(503, "busy", kind="busy", headers={"Retry-After": "3"})
    assert (error.status, error.detail, error.kind, error.errors) == (503, "busy", "busy", None)
    assert error.headers == {"Retry-After": "3"} and str(error) == "busy"
    assert ProblemError(400, "bad").headers == {}  # never None: handlers add to it
