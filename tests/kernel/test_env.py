import pytest
from django.core.exceptions import ImproperlyConfigured

from invoicing.env import env_bool, env_choice, env_int, env_list, env_str


def test_it_reads_booleans_in_the_usual_spellings(monkeypatch):
    for raw, expected in [("1", True), ("yes", True), ("ON", True), ("0", False), ("false", False), ("", False)]:
        monkeypatch.setenv("X_FLAG", raw)
        assert env_bool("X_FLAG") is expected


def test_it_fails_loudly_on_a_value_it_cannot_understand(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_FLAG='maybe' is not a boolean"):
        env_bool("X_FLAG")
    monkeypatch.setenv("X_NUM", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("X_NUM", 3)
    monkeypatch.setenv("X_MODE", "ftp")
    with pytest.raises(ImproperlyConfigured, match="must be one of"):
        env_choice("X_MODE", ("http", "inprocess"), "http")


def test_it_uses_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("X_UNSET", raising=False)
    assert env_int("X_UNSET", 7) == 7
    assert env_list("X_UNSET", ["a"]) == ["a"]
    assert env_str("X_UNSET", "d") == "d"


def test_it_reads_a_secret_from_a_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_str("X_SECRET") == "s3cr3t"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_str("X_SECRET")


def test_settings_refuse_to_start_without_a_secret_when_debug_is_off(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "DEBUG": "0", "FAPIAO_VAR_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", "import invoicing.settings"], env=env, capture_output=True, text=True, cwd="."
    )
    assert proc.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in proc.stderr
