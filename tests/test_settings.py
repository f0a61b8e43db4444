"""service.settings: INITW_* environment variables, their defaults and what they refuse."""

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings

OPERATING = (Path(__file__).resolve().parents[1] / "docs" / "OPERATING.md").read_text()  # its Settings table


@pytest.fixture
def env(monkeypatch):
    """An environment without INITW_* variables; set more with ``env.setenv``."""
    for key in list(os.environ):
        if key.upper().startswith("INITW_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_without_variables_the_embedded_defaults_need_nothing_else(env):
    settings = Settings()
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8000, 1)
    assert settings.job_dir == "" and settings.cors_origins == ""  # the temporary directory; CORS off
    assert settings.memory_budget_bytes == 1 << 30 and settings.max_elements == 1 << 32


def test_variables_are_read_with_the_initw_prefix_and_parsed_to_their_types(env):
    env.setenv("INITW_HOST", "0.0.0.0")
    env.setenv("INITW_PORT", "9001")
    env.setenv("INITW_JOB_SECONDS", "2.5")
    env.setenv("INITW_LSUV_BUDGET", "1e6")
    env.setenv("INITW_JOB_DIR", "/var/lib/initw")
    env.setenv("INITW_CORS_ORIGINS", "https://a.example, https://b.example")
    env.setenv("PORT", "1")  # no prefix: not a setting
    settings = Settings()
    assert settings.host == "0.0.0.0" and settings.port == 9001 and isinstance(settings.port, int)
    assert settings.job_seconds == 2.5 and settings.lsuv_budget == 1e6
    assert settings.job_dir == "/var/lib/initw" and settings.cors_origins == "https://a.example, https://b.example"


def test_arguments_take_precedence_over_the_environment(env):
    env.setenv("INITW_PORT", "9001")
    assert Settings(port=8123).port == 8123


def test_unknown_initw_variables_are_ignored(env):
    env.setenv("INITW_URL", "http://elsewhere:8000")  # the client's, not the server's
    env.setenv("INITW_NO_SUCH_SETTING", "1")
    assert Settings().port == 8000


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INITW_PORT", "65536"),
        ("INITW_PORT", "-1"),
        ("INITW_PORT", "eighty"),
        ("INITW_WORKERS", "0"),
        ("INITW_WORKERS", "65"),
        ("INITW_MAX_ELEMENTS", "0"),
        ("INITW_MEMORY_BYTES", "-1"),
        ("INITW_MAX_BODY_BYTES", "1023"),
        ("INITW_JOB_SECONDS", "0"),
        ("INITW_JOB_TTL_SECONDS", "-5"),
        ("INITW_JOB_QUEUE", "1001"),
        ("INITW_MEMORY_BUDGET_BYTES", str((1 << 20) - 1)),
        ("INITW_QUEUE_SECONDS", "-0.1"),
        ("INITW_BODY_SECONDS", "0"),
        ("INITW_NETWORK_BUDGET", "0"),
        ("INITW_GRACE_SECONDS", "soon"),
    ],
)
def test_values_out_of_range_or_of_the_wrong_type_are_refused_naming_the_setting(env, variable, value):
    env.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert variable.removeprefix("INITW_").lower() in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value", "field", "parsed"),
    [
        ("INITW_PORT", "0", "port", 0),
        ("INITW_PORT", "65535", "port", 65535),
        ("INITW_JOB_QUEUE", "0", "job_queue", 0),
        ("INITW_MAX_BODY_BYTES", "1024", "max_body_bytes", 1024),
        ("INITW_QUEUE_SECONDS", "0", "queue_seconds", 0.0),
        ("INITW_GRACE_SECONDS", "0", "grace_seconds", 0.0),
    ],
)
def test_the_bounds_themselves_are_accepted(env, variable, value, field, parsed):
    env.setenv(variable, value)
    assert getattr(Settings(), field) == parsed


def test_the_operating_table_lists_every_setting_and_no_other():
    listed = set(re.findall(r"^\| `INITW_([A-Z_]+)` \|", OPERATING, re.MULTILINE))
    assert {name.lower() for name in listed} == set(Settings.model_fields)
