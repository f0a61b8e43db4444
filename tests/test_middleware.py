"""The body guard: JSON only, bounded size, answered as problem+json."""


def test_non_json_content_type_is_a_415(client):
    for headers in ({"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}):
        r = client.post("/init", content=b'{"seed": 0}', headers=headers)
        assert r.status_code == 415 and r.headers["content-type"] == "application/problem+json"


def test_json_suffix_types_are_accepted(client):
    body = b'{"seed": 0, "shape": [2, 2], "scheme": "zeros"}'
    assert (
        client.post("/init", content=body, headers={"content-type": "application/json; charset=utf-8"}).status_code
        == 200
    )
    assert client.post("/init", content=body, headers={"content-type": "application/vnd.initw+json"}).status_code == 200


def test_oversized_bodies_are_a_413_whether_declared_or_chunked(client):
    big = b'{"seed": 0, "pad": "' + b"x" * (70 << 10) + b'"}'
    declared = client.post("/init", content=big, headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.headers["content-type"] == "application/problem+json"

    def chunks():
        for _ in range(70):
            yield b"x" * 1024

    streamed = client.post("/init", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    assert client.get("/healthz").status_code == 200


def _guarded_echo(max_bytes: int = 1 << 24):
    """A minimal app behind BodyGuard that reports how its body reached the route."""
    import threading

    from fastapi import APIRouter, FastAPI, Request

    from service import middleware
    from service.routes.common import ParsedBodyRoute

    parsed_in = []
    original = middleware.unique_json.loads

    def watched(*args, **kwargs):
        parsed_in.append(threading.current_thread() is threading.main_thread())
        return original(*args, **kwargs)

    router = APIRouter(route_class=ParsedBodyRoute)

    @router.post("/echo")
    async def echo(request: Request, body: dict) -> dict:
        return {"same": await request.json() is request.scope[middleware.PARSED], "keys": len(body)}

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(middleware.BodyGuard, max_bytes=max_bytes)
    return app, parsed_in, watched


def test_the_body_is_parsed_once_by_the_guard_and_the_route_takes_that_parse(monkeypatch):
    from starlette.requests import Request
    from starlette.testclient import TestClient

    from service import middleware

    app, parsed_in, watched = _guarded_echo()
    monkeypatch.setattr(middleware.unique_json, "loads", watched)

    async def parsed_again(self):
        raise AssertionError("the route parsed the body a second time")

    monkeypatch.setattr(Request, "json", parsed_again)
    with TestClient(app) as client:
        small = client.post("/echo", json={"a": 1})
        large = client.post("/echo", json={"pad": "x" * (middleware.PARSED_ON_THE_LOOP + 1)})
        for malformed in (b'{"a": 1', b'{"a": 1' + b" " * middleware.PARSED_ON_THE_LOOP):  # refused, not parsed again
            refused = client.post("/echo", content=malformed, headers={"content-type": "application/json"})
            assert refused.status_code == 422
    assert small.json() == {"same": True, "keys": 1} and large.json() == {"same": True, "keys": 1}
    # once per request; the large one off the event loop's thread (TestClient runs the loop in its own thread)
    assert len(parsed_in) == 4


def test_a_key_given_twice_anywhere_is_a_422_naming_it_and_too_many_objects_a_413(client):
    twice = client.post("/init", content=b'{"shape": [2], "shape": [3], "scheme": "zeros"}',
                        headers={"content-type": "application/json"})  # fmt: skip
    assert twice.status_code == 422 and twice.headers["content-type"] == "application/problem+json"
    assert twice.json()["errors"][0]["field"] == "shape" and twice.json()["errors"][0]["pointer"] == "/shape"


def test_a_body_of_too_many_objects_is_a_413_before_any_validation():
    from starlette.testclient import TestClient

    from service.middleware import MAX_OBJECTS

    app, _, _ = _guarded_echo()
    with TestClient(app) as client:
        crowd = b'{"tensors": [' + b",".join([b"{}"] * MAX_OBJECTS) + b"]}"  # with the outer object: one too many
        many = client.post("/echo", content=crowd, headers={"content-type": "application/json"})
        limit = b'{"tensors": [' + b",".join([b"{}"] * (MAX_OBJECTS - 1)) + b"]}"
        enough = client.post("/echo", content=limit, headers={"content-type": "application/json"})
    assert many.status_code == 413 and f"{MAX_OBJECTS:,} JSON objects" in many.json()["detail"]
    assert enough.json() == {"same": True, "keys": 1}


def test_a_large_body_is_validated_off_the_event_loop_and_answered_as_a_small_one(monkeypatch):
    import threading

    from fastapi import APIRouter
    from pydantic import BaseModel, field_validator
    from starlette.testclient import TestClient

    from service import middleware
    from service.app import create_app
    from service.routes.common import ParsedBodyRoute
    from service.settings import Settings

    validated_in = []

    class Body(BaseModel):
        n: int

        @field_validator("n")
        @classmethod
        def watched(cls, n: int) -> int:
            validated_in.append(threading.get_ident())
            return n

    app, _, _ = _guarded_echo()
    pad = b" " * (middleware.PARSED_ON_THE_LOOP + 1)
    router = APIRouter(route_class=ParsedBodyRoute)

    @router.post("/model")
    async def model(body: Body) -> dict:
        return {"n": body.n}

    app.include_router(router)

    with TestClient(app) as client:
        small, large = (client.post("/model", content=b'{"n": 3}' + p, headers={"content-type": "application/json"})
                        for p in (b"", pad))  # fmt: skip
        assert small.json() == large.json() == {"n": 3}
    # the small body is validated on the event loop's thread, the large one (once) in another
    assert len(validated_in) == 2 and validated_in[0] != validated_in[1]

    settings = Settings(max_body_bytes=1 << 20)
    with TestClient(create_app(settings)) as client:
        for body in (b'{"shape": [2, -1], "scheme": "xavier_uniform"}', b'{"shape": [2], "scheme": "nope", "x": 1}',
                     b'{"shape": [2], "scheme": "zeros", "seed": "a"', b'[1, 2]'):  # fmt: skip
            answers = [client.post("/init", content=body + p, headers={"content-type": "application/json"})
                       for p in (b"", pad)]  # fmt: skip
            assert answers[0].status_code in (400, 422)
            assert (answers[0].status_code, answers[0].json()) == (answers[1].status_code, answers[1].json())
