"""``pipeshield keys create|list|revoke``: the key is printed once and never stored or listed."""

from __future__ import annotations

import json
from pathlib import Path

from pipeshield.gateway.keys import ApiKeyStore, hash_secret
from tests.conftest import CliRunner


def test_keys_create_list_revoke(cli: CliRunner, tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeshield.toml"
    pipeline.write_text('[models.m]\npath = "m.skops"\n')
    code, out, _ = cli(["keys", "create", "--name", "ci", "--models", "m", "--rate", "5/s", "--budget", "100",
                        "--daily", "10", "--format", "json", "--pipeline", str(pipeline)])
    assert code == 0, out
    created = json.loads(out)
    assert created["key"].startswith("psk_") and created["models"] == ["m"] and created["rate"] == "5/s"
    db = tmp_path / ".pipeshield" / "gateway.db"
    assert created["key"] not in db.read_bytes().decode("latin-1")  # only the hash is stored
    assert hash_secret(created["key"]) in db.read_bytes().decode("latin-1")
    code, out, _ = cli(["keys", "list", "--format", "json", "--pipeline", str(pipeline)])
    listed = json.loads(out)["keys"]
    assert code == 0 and [k["name"] for k in listed] == ["ci"] and "key" not in listed[0]
    assert created["key"] not in out
    code, _, err = cli(["keys", "create", "--name", "x", "--models", "nope", "--pipeline", str(pipeline)])
    assert code == 2 and "no model named 'nope'" in err
    code, _, err = cli(["keys", "create", "--name", "ci", "--pipeline", str(pipeline)])
    assert code == 2 and "already exists" in err
    code, _, _ = cli(["keys", "revoke", created["id"], "--pipeline", str(pipeline)])
    assert code == 0
    store = ApiKeyStore(db)
    assert store.get("ci").revoked and store.authenticate(created["key"]) is None
    store.close()
    code, _, err = cli(["keys", "create", "--name", "y", "--rate", "fast", "--pipeline", str(pipeline)])
    assert code == 2 and "cannot parse rate" in err


def test_key_stores_opened_together_create_their_tables_once(tmp_path: Path) -> None:
    """Two replicas starting at once on a new store: one creates the tables, neither fails."""
    import threading

    from pipeshield.gateway.keys import ApiKeyStore

    db = f"sqlite:///{tmp_path / 'keys.db'}"
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            ApiKeyStore(db)
        except BaseException as err:  # noqa: BLE001 - the test reports any failure
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_keys_lift_clears_a_monitor_sanction(cli: CliRunner, tmp_path: Path) -> None:
    pipeline = tmp_path / "pipeshield.toml"
    pipeline.write_text('[models.m]\npath = "m.skops"\n')
    code, out, _ = cli(["keys", "create", "--name", "bot", "--format", "json", "--pipeline", str(pipeline)])
    assert code == 0, out
    db = tmp_path / ".pipeshield" / "gateway.db"
    store = ApiKeyStore(db)
    store.set_sanction(json.loads(out)["id"], "label-only")  # what an extraction alert does
    store.close()
    code, _, err = cli(["keys", "lift", "bot", "--pipeline", str(pipeline)])
    assert code == 0 and "lifted 'label-only'" in err
    store = ApiKeyStore(db)
    assert store.get("bot").sanction is None
    store.close()
    code, _, err = cli(["keys", "lift", "nobody", "--pipeline", str(pipeline)])
    assert code == 2 and "nobody" in err
