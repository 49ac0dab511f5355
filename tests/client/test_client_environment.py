"""The sync transport reads the environment once per session: proxies and the CA bundle as requests would
take them, no per-request look-ups, and never a ``.netrc`` entry in place of the token."""

from __future__ import annotations

import responses

from toloka_provider.client import TolokaClient

URL = "https://toloka.example.test"
TOKEN = "t0ken-abc"


def _requester(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, f"{URL}/api/v1/requester", json={"id": "r1", "balance": 1.5, "public_name": {}})


def test_proxies_come_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = TolokaClient(TOKEN, url=URL)
    session = client._session()
    assert session.trust_env is False
    assert session.proxies.get("https") == "http://127.0.0.1:3128"
    client.close()


def test_no_proxy_covering_the_api_host_means_no_proxy(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("NO_PROXY", "toloka.example.test")
    client = TolokaClient(TOKEN, url=URL)
    assert "https" not in client._session().proxies
    client.close()


def test_ca_bundle_from_the_environment_only_when_verify_is_left_default(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    default = TolokaClient(TOKEN, url=URL)
    explicit = TolokaClient(TOKEN, url=URL, verify=False)
    assert default._session().verify == str(bundle)
    assert explicit._session().verify is False
    default.close()
    explicit.close()


def test_a_netrc_entry_for_the_api_host_never_replaces_the_token(monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine toloka.example.test login someone password other-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = TolokaClient(TOKEN, url=URL)
    with responses.RequestsMock() as rsps:
        _requester(rsps)
        client.get_requester()
        sent = rsps.calls[0].request.headers["Authorization"]
    assert sent == f"OAuth {TOKEN}"
    client.close()


def test_requests_do_not_look_the_environment_up_again(monkeypatch):
    client = TolokaClient(TOKEN, url=URL)
    client._session()  # the session (and its one look-up) exists before counting
    looked_up = []
    real = __import__("requests").utils.get_environ_proxies
    monkeypatch.setattr("requests.utils.get_environ_proxies", lambda *a, **k: looked_up.append(a) or real(*a, **k))
    monkeypatch.setattr("requests.sessions.get_environ_proxies", lambda *a, **k: looked_up.append(a) or real(*a, **k))
    with responses.RequestsMock() as rsps:
        _requester(rsps)
        _requester(rsps)
        client.get_requester()
        client.get_requester()
    assert looked_up == []
    client.close()
