"""The Docker Compose deployment agrees with the code: ports, service names, the
variables the code reads, health checks, and no secret written in a file.

Static checks only (no Docker daemon, no network): docker-compose.yml is read with
PyYAML, the Dockerfile and deploy/nginx.conf as text.
"""

from __future__ import annotations

import argparse
import re
import shlex
from urllib.parse import urlsplit

import pytest
import yaml

from bot.cli import serve
from bot.connectors.service import MAX_REQUEST_BYTES
from bot.settings import PROJECT_ROOT

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
ENV_EXAMPLE = PROJECT_ROOT / "deploy" / "env.example"

REPLICAS = ("helpline", "helpline-2")
# Read by Rasa or Python themselves, not by the project's code.
ALLOWED_EXTRA = {"RASA_TELEMETRY_ENABLED", "PYTHONUNBUFFERED"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY")
REFERENCE = re.compile(r"\$\{[A-Z][A-Z0-9_]*(?:[:?-][^}]*)?\}")
# os.environ.get("X"), os.environ["X"], os.getenv("X"), environ.get("X") on an injected
# mapping, and settings.py's _path("X", default) helper (which reads os.environ).
ENV_READ = re.compile(r"""(?:environ\.get\(|environ\[|getenv\(|\b_path\()\s*["']([A-Z][A-Z0-9_]*)["']""")
# endpoints.yml names variables as ${NAME}; bot/storage/conversation_stores.py fills them in.
ENDPOINT_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def code_vars() -> set:
    names = set()
    for path in (PROJECT_ROOT / "bot").rglob("*.py"):
        names.update(ENV_READ.findall(path.read_text(encoding="utf-8")))
    endpoints = re.sub(r"#[^\n]*", "", (PROJECT_ROOT / "endpoints.yml").read_text())
    return names | set(ENDPOINT_VAR.findall(endpoints))


@pytest.fixture(scope="module")
def nginx() -> str:
    # Without comments, so that a commented-out directive counts for nothing.
    return re.sub(r"#[^\n]*", "", NGINX_CONF.read_text())


def default_port() -> int:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser.get_default("port")


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def without_references(text: str) -> str:
    """${VAR:?message} may hold ':', '?' or spaces that confuse a URL parser."""
    return REFERENCE.sub("REF", text)


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def env_example_vars() -> dict:
    """NAME=value lines, including commented-out ones (documented but optional)."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def dockerfile_instructions() -> list:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"^\s*#[^\n]*\n", "", DOCKERFILE.read_text(), flags=re.M)
    text = re.sub(r"\\\n", " ", text)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in text.splitlines() if line.strip()]


def upstreams(nginx_text: str) -> dict:
    return {name: re.findall(r"^\s*server\s+([\w.-]+):(\d+)", body, re.M)
            for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", nginx_text, re.S)}


# --- docker-compose.yml ------------------------------------------------------------------

def test_services_exist(services):
    assert {"helpline", "postgres", "redis", "helpline-2", "proxy"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["proxy"]["image"].startswith("nginx:1.27")


def test_every_service_has_a_healthcheck_and_restarts(services):
    for name, service in services.items():
        assert healthcheck_text(service).strip(), name
        assert service.get("restart") == "unless-stopped", name


def test_helpline_readiness_and_port_match_the_serve_command(services):
    port = default_port()
    for name in REPLICAS:
        check = healthcheck_text(services[name])
        assert f"127.0.0.1:{port}/readyz" in check, name
    assert services["helpline"]["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert not services["helpline-2"].get("ports"), "the second replica is reached through the proxy"


def test_replicas_share_build_and_environment(services):
    first, second = services["helpline"], services["helpline-2"]
    assert first["build"] == second["build"] == "."
    assert first["env_file"] == second["env_file"] == ".env"
    assert environment(first) == environment(second)
    assert second["profiles"] == ["scale"] and services["proxy"]["profiles"] == ["scale"]
    # Migrations run once: the second replica waits for the first one to be ready.
    assert second["depends_on"]["helpline"]["condition"] == "service_healthy"


def test_helpline_waits_for_healthy_database_and_redis(services):
    for name in REPLICAS:
        depends = services[name]["depends_on"]
        for needed in ("postgres", "redis"):
            assert depends[needed]["condition"] == "service_healthy", (name, needed)


def test_database_url_matches_the_postgres_service(services):
    pg = environment(services["postgres"])
    raw = environment(services["helpline"])["DATABASE_URL"]
    url = urlsplit(without_references(raw))
    assert url.scheme in ("postgresql", "postgresql+psycopg2")
    assert url.hostname == "postgres" and url.hostname in services
    assert url.port == 5432
    assert url.path.lstrip("/") == pg["POSTGRES_DB"]
    assert url.username == pg["POSTGRES_USER"]
    assert re.search(r":\$\{POSTGRES_PASSWORD[:?}]", raw), "the password comes from .env"
    assert "pg_isready" in healthcheck_text(services["postgres"])


def test_redis_url_points_at_the_redis_service(services):
    url = urlsplit(environment(services["helpline"])["REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname == "redis" and url.hostname in services
    assert url.port == 6379
    assert "redis-cli ping" in healthcheck_text(services["redis"])


def test_postgres_data_is_on_a_named_volume(compose, services):
    assert "pgdata" in (compose.get("volumes") or {})
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_the_scan_finds_variables_the_code_reads(code_vars):
    # Guards the regular expressions: these are read in four different ways.
    assert {"DATABASE_URL", "TELEGRAM_BOT_TOKEN", "MODEL_DIR", "REDIS_URL"} <= code_vars


def test_helpline_sets_only_variables_the_code_reads(services, code_vars):
    known = code_vars | ALLOWED_EXTRA
    for name in REPLICAS:
        unknown = set(environment(services[name])) - known
        assert not unknown, f"{name} sets variables nothing reads: {sorted(unknown)}"


def test_env_example_documents_only_used_variables(code_vars):
    compose_text = re.sub(r"(^|\s)#[^\n]*", "", COMPOSE_FILE.read_text())  # comments aside
    compose_vars = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))
    documented = env_example_vars()
    unused = set(documented) - code_vars - compose_vars - ALLOWED_EXTRA
    assert not unused, f"deploy/env.example documents unused variables: {sorted(unused)}"
    # Every secret compose insists on (${VAR:?...}) is in the example.
    mandatory = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", compose_text))
    assert mandatory and mandatory <= set(documented)


def test_env_example_holds_no_real_secret():
    text = ENV_EXAMPLE.read_text()
    assert 'secrets.token_urlsafe(32)' in text
    for name, value in env_example_vars().items():
        if SECRET_NAME.search(name):
            assert value in ("", "change-me"), f"{name} must be a placeholder, not {value!r}"


def test_no_secret_written_in_compose(services):
    # Every "password: value" or "password=value" must be a ${...} reference to .env.
    text = without_references(COMPOSE_FILE.read_text())
    for match in re.finditer(r"password\s*[=:]\s*([^\s,;]+)", text, re.I):
        assert match.group(1).strip("\"'") == "REF", match.group(0)
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert REFERENCE.fullmatch(value), f"{name}: {key} must come from .env"
            for userinfo in re.findall(r"://[^/@\s]*?:(.*)@", value):
                assert REFERENCE.fullmatch(userinfo), f"{name}: password in {key}"


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    assert {".env", ".git", ".venv", "models", "data", "results", "tests"} <= set(ignored)


def test_secrets_are_not_handed_to_postgres_or_redis(services):
    for name in ("postgres", "redis"):
        assert "env_file" not in services[name], name


# --- deploy/nginx.conf -------------------------------------------------------------------

def test_proxy_mounts_the_nginx_config_read_only(services):
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["proxy"]["volumes"]
    assert services["proxy"]["ports"] == ["127.0.0.1:8080:80"]


def test_nginx_upstreams_match_compose_services_and_port(nginx, services):
    groups = upstreams(nginx)
    assert groups, "no upstream block"
    port = str(default_port())
    for servers in groups.values():
        for host, server_port in servers:
            assert host in services and server_port == port, (host, server_port)
    # Some upstream balances over both replicas, and every upstream is used.
    assert any({h for h, _ in servers} == set(REPLICAS) for servers in groups.values())
    for name in groups:
        assert f"proxy_pass http://{name};" in nginx


def test_nginx_keeps_a_web_chat_on_one_replica(nginx):
    # Routed by the conversation the web chat names (X-Conversation); at random without one.
    assert re.search(r"map\s+\$http_x_conversation\s+\$route_key\s*\{[^}]*\"\"\s+\$request_id;", nginx)
    assert re.search(r"^\s*hash\s+\$route_key\s+consistent;", nginx, re.M)


def test_nginx_logs_no_client_address(nginx):
    assert "$remote_addr" not in nginx and "$proxy_add_x_forwarded_for" not in nginx
    assert re.search(r"^\s*access_log\s+off;", nginx, re.M)
    assert not re.search(r"^\s*log_format\b", nginx, re.M)


def test_nginx_limits_and_headers_fit_the_app(nginx):
    size = re.search(r"client_max_body_size\s+(\d+)k;", nginx)
    assert size and int(size.group(1)) * 1024 == MAX_REQUEST_BYTES
    timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", nginx)
    assert timeout and int(timeout.group(1)) >= 60, "long polls need more than a minute"
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$\w+;", nginx)
    assert re.search(r"location\s*=\s*/metrics\s*\{\s*return\s+404;", nginx)


# --- Dockerfile ----------------------------------------------------------------------------

def test_dockerfile_base_image_is_python_310():
    base = [args for op, args in dockerfile_instructions() if op == "FROM"]
    assert len(base) == 1 and re.match(r"python:3\.10(-|$)", base[0])


def test_dockerfile_expose_cmd_and_healthcheck_agree():
    steps = dict(dockerfile_instructions())
    port = default_port()
    assert steps["EXPOSE"] == str(port)
    cmd = yaml.safe_load(steps["CMD"])  # the exec form is a JSON list
    assert cmd[:4] == ["python", "-m", "bot", "serve"]
    assert cmd[cmd.index("--port") + 1] == str(port) and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert f"http://127.0.0.1:{port}/healthz" in steps["HEALTHCHECK"]
    assert steps["STOPSIGNAL"] == "SIGTERM"


def test_dockerfile_trains_at_build_then_runs_unprivileged():
    steps = dockerfile_instructions()
    ops = [op for op, _ in steps]
    train = [i for i, (op, args) in enumerate(steps)
             if op == "RUN" and "RASA_TELEMETRY_ENABLED=false python -m bot train" in args]
    assert train, "the model must be trained at build time"
    copy = max(i for i, op in enumerate(ops) if op == "COPY")
    user = ops.index("USER")
    assert copy < train[0] < user < ops.index("CMD")
    assert steps[user][1] not in ("root", "0")
    env = " ".join(args for op, args in steps if op == "ENV")
    assert "PYTHONUNBUFFERED=1" in env and "RASA_TELEMETRY_ENABLED=false" in env


def test_dockerfile_installs_the_lock_without_cache():
    runs = [shlex.split(args) for op, args in dockerfile_instructions() if op == "RUN"]
    pip = [r for r in runs if "pip" in r and "install" in r]
    assert pip and "--no-cache-dir" in pip[0] and "requirements.lock" in pip[0]
