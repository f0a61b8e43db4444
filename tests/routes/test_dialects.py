"""Dialects over HTTP: GET /schemes?dialect=, qualified names in POST /init, and the warning a
keras/jax layout with an unqualified name that framework reads otherwise gets (never in the file)."""

from __future__ import annotations

import hashlib

from service.core import dialects

AMBIGUOUS = {"seed": 0, "layout": "keras", "shape": [3, 3, 16, 32], "scheme": "he_normal"}


def test_each_dialects_catalogue_lists_its_words_with_the_frameworks_defaults(client):
    for dialect in dialects.PREFIXES:
        body = client.get("/schemes", params={"dialect": dialect}).json()
        assert body["dialect"] == dialect and body["dialects"] == list(dialects.DIALECTS)
        assert [e["name"] for e in body["schemes"]] == [w.qualified for w in dialects.by_dialect(dialect)]
    keras = {e["name"]: e for e in client.get("/schemes?dialect=keras").json()["schemes"]}
    stddev = next(p for p in keras["keras.RandomNormal"]["parameters"] if p["name"] == "stddev")
    assert stddev["default"] == 0.05
    assert "random_normal" in " ".join(keras["keras.RandomNormal"]["aliases"])
    assert "unsupported" in keras["keras.STFT"]
    assert client.get("/schemes").json()["dialect"] == "initw"
    one = client.get("/schemes/keras.HeNormal").json()
    assert one["framework"] == "keras.initializers.HeNormal()" and "truncated_normal" in one["meaning"]
    bad = client.get("/schemes?dialect=tensorflow")
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_a_qualified_name_gives_the_bytes_of_its_initw_meaning(client):
    word = client.post("/init", json={"seed": 3, "layout": "keras", "shape": [3, 3, 16, 32],
                                      "scheme": {"name": "keras.HeNormal"}})  # fmt: skip
    vs = {"name": "variance_scaling", "scale": 2.0, "mode": "fan_in"}
    same = client.post("/init", json={"seed": 3, "layout": "keras", "shape": [3, 3, 16, 32], "scheme": vs})
    assert word.status_code == same.status_code == 200
    assert word.content == same.content and word.headers["etag"] == same.headers["etag"]
    by_dialect = client.post(
        "/init", json={"seed": 3, "dialect": "keras", "shape": [3, 3, 16, 32], "scheme": "HeNormal"}
    )
    assert by_dialect.content == word.content  # dialect keras: the keras layout and Keras's HeNormal
    assert "initw-warning" not in word.headers and "initw-warning" not in by_dialect.headers


def test_an_ambiguous_name_is_served_as_before_with_a_warning_header_and_json_field(client):
    warned = client.post("/init", json=AMBIGUOUS)
    quiet = client.post("/init", json={**AMBIGUOUS, "dialect": "initw"})
    assert warned.status_code == quiet.status_code == 200
    assert warned.content == quiet.content and warned.headers["etag"] == quiet.headers["etag"]  # the file is the same
    assert "initw-warning" not in quiet.headers
    warning = warned.headers["initw-warning"]
    assert warning.startswith("scheme: 'he_normal' is initw's kaiming_normal") and "keras.he_normal" in warning
    as_json = client.post("/init", json=AMBIGUOUS, headers={"Accept": "application/json"}).json()
    assert as_json["warnings"] == [warning]
    quiet_json = client.post("/init", json={**AMBIGUOUS, "dialect": "initw"}, headers={"Accept": "application/json"})
    assert "warnings" not in quiet_json.json()
    assert (
        quiet_json.headers["etag"]
        != client.post("/init", json=AMBIGUOUS, headers={"Accept": "application/json"}).headers["etag"]
    )  # two JSON representations, two validators
    file_sha = hashlib.sha256(warned.content).hexdigest()
    assert as_json["artifact"]["sha256"] == file_sha


def test_a_word_under_a_dialect_that_lacks_it_is_a_clear_422(client):
    answer = client.post("/init", json={"seed": 0, "dialect": "keras", "shape": [4, 4], "scheme": "sphere_rows"})
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "scheme" and "keras.sphere_rows" in error["message"]
    axes = client.post("/init", json={"seed": 0, "dialect": "jax", "shape": [4, 4],
                                      "scheme": {"name": "he_normal", "in_axis": 0, "out_axis": 0}})  # fmt: skip
    assert axes.status_code == 422
    [error] = axes.json()["errors"]
    assert error["field"] == "scheme.out_axis" and "both" in error["message"]


def test_every_answer_to_an_ambiguous_request_carries_the_warning(client):
    query = "/init?seed=0&layout=keras&shape=3,3,16,32&scheme=he_normal"
    whole = client.get(query)
    assert whole.status_code == 200 and "he_normal" in whole.headers["initw-warning"]
    ranged = client.get(query, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.headers["initw-warning"] == whole.headers["initw-warning"]
    cached = client.get(query, headers={"If-None-Match": whole.headers["etag"]})
    assert cached.status_code == 304 and "initw-warning" in cached.headers
    shard = client.post("/init?tensor=weight&start=0&stop=10", json=AMBIGUOUS)
    assert shard.status_code == 200 and "initw-warning" in shard.headers
    assert "initw-warning" not in client.get(query + "&dialect=initw").headers


def test_a_refused_framework_word_says_why_and_diagnostics_warn_too(client):
    stft = client.post("/init", json={"seed": 0, "shape": [4, 4], "scheme": "keras.STFT"})
    assert stft.status_code == 422
    [error] = stft.json()["errors"]
    assert error["field"] == "scheme.name" and "STFT" in error["message"] and "DFT" in error["message"]
    report = client.post("/diagnostics", json=AMBIGUOUS)
    assert report.status_code == 200 and "he_normal" in report.headers["initw-warning"]
