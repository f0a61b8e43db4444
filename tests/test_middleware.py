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
