"""Configuration: the local secret key is made once, whoever starts first."""

import threading

from api.config import _secret_key


def test_processes_starting_together_share_one_secret_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    keys, barrier = [], threading.Barrier(8)

    def start():
        barrier.wait()
        keys.append(_secret_key(tmp_path))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) == 64
    assert (tmp_path / "secret_key").read_text() == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no leftovers
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_secret_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert _secret_key(tmp_path) == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()
