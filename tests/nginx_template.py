"""The nginx template of deploy/nginx/, rendered the way the official nginx image renders it.

The image's entrypoint (/docker-entrypoint.d/20-envsubst-on-templates.sh) runs, for each
/etc/nginx/templates/NAME.template,

    envsubst "$defined_envs" < NAME.template > /etc/nginx/conf.d/NAME

where ``defined_envs`` lists ``${VAR}`` for every variable defined in its environment whose name
matches the ERE NGINX_ENVSUBST_FILTER (unanchored; empty matches all). GNU envsubst with such a
list replaces ``$VAR`` and ``${VAR}`` of the listed names only and leaves every other ``$`` alone,
which is what keeps nginx's own ``$variables`` intact. :func:`envsubst` does the same in Python.

:func:`nginx_executable` is the nginx the tests run the rendering in (scripts/system-deps installs it).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "deploy" / "nginx" / "templates"
TEMPLATE = TEMPLATES / "default.conf.template"
SUFFIX = ".template"  # NGINX_ENVSUBST_TEMPLATE_SUFFIX's default
OUTPUT_DIR = "/etc/nginx/conf.d"  # NGINX_ENVSUBST_OUTPUT_DIR's default

# Set, the nginx executable the tests run instead of looking for one (scripts/system-deps looks there too).
NGINX_OVERRIDE = "INITW_TEST_NGINX"
MISSING_NGINX = "nginx is not installed: run scripts/system-deps"

# envsubst's variable references: $NAME (longest name) or ${NAME}; anything else is text.
_REFERENCE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def defined_names(environ: Mapping[str, str]) -> set[str]:
    """The names the image passes to envsubst: defined, and matching NGINX_ENVSUBST_FILTER."""
    pattern = re.compile(environ.get("NGINX_ENVSUBST_FILTER", ""))
    return {name for name in environ if pattern.search(name)}


def envsubst(text: str, environ: Mapping[str, str]) -> str:
    """``envsubst "$defined_envs"``: substitute only the defined (and filtered) variables."""
    names = defined_names(environ)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return environ[name] if name in names else match.group(0)

    return _REFERENCE.sub(substitute, text)


def referenced(text: str) -> set[str]:
    """Every $NAME / ${NAME} in ``text`` that looks like an environment variable (has upper case)."""
    return {m.group(1) or m.group(2) for m in _REFERENCE.finditer(text) if (m.group(1) or m.group(2)).isupper()}


def render(environ: Mapping[str, str], template: Path = TEMPLATE) -> str:
    return envsubst(template.read_text(), environ)


def output_name(template: Path = TEMPLATE) -> str:
    """Where the image writes the rendered template."""
    return f"{OUTPUT_DIR}/{template.relative_to(TEMPLATES).as_posix().removesuffix(SUFFIX)}"


def nginx_executable() -> str | None:
    """$INITW_TEST_NGINX if set, else nginx on PATH, else Debian's /usr/sbin/nginx (not on a non-root
    user's PATH); None when there is none."""
    override = os.environ.get(NGINX_OVERRIDE)
    if override:
        return override if os.access(override, os.X_OK) else None
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
