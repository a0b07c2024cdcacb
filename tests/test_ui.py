"""The ops console through Flask's test client: login, CSRF, rights, errors.

The same flows in a real browser are in test_ui_browser.py.
"""

import re

import pytest

from tests.conftest import KEYS, OPS, eventually

READER = KEYS["reader"]["secret"]


def login(client, secret=OPS):
    answer = client.post("/ui/login", data={"key": secret, "next": "/ui/"})
    assert answer.status_code == 303, answer.data
    return answer


def csrf_of(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.data
    return re.search(rb'name="csrf" value="([^"]+)"', page.data).group(1).decode()


def shown(client, service, members=0):
    """Wait until the gateway's cache shows what the test wrote straight to ZooKeeper."""

    def check():
        page = client.get("/ui/qa/s/" + service)
        assert page.status_code == 200 and page.data.count(b'<tr id="m-') == members
        return page

    return eventually(check)


def test_pages_need_a_login_and_a_browser_at_the_root_lands_there(client):
    answer = client.get("/ui/qa/")
    assert answer.status_code == 303 and answer.location.startswith("/ui/login?next=/ui/qa/")
    assert client.get("/", headers={"Accept": "text/html,application/xhtml+xml"}).location == "/ui/"
    api = client.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.json["code"] == 0  # API clients: the admin envelope as before


def test_login_cookie_is_signed_httponly_strict_and_holds_no_key(client):
    bad = client.post("/ui/login", data={"key": "not-a-key-at-all"})
    assert bad.status_code == 401 and b"Unknown key" in bad.data and "Set-Cookie" not in bad.headers
    cookie = login(client).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui" in cookie and "Max-Age=28800" in cookie
    assert OPS not in cookie
    assert client.get("/ui/").status_code == 200
    token = csrf_of(client, "/ui/")
    out = client.post("/ui/logout", data={"csrf": token})
    assert out.status_code == 303 and "soa_ui=;" in out.headers["Set-Cookie"]
    assert client.get("/ui/").status_code == 303


def test_a_forged_or_expired_cookie_is_no_session(app, client):
    client.set_cookie("soa_ui", "eyJrIjoib3BzIn0.forged", path="/ui")
    assert client.get("/ui/").status_code == 303
    login(client)
    app.extensions["soa"].state("ui").max_age = -1  # every cookie signed so far is now too old
    assert client.get("/ui/").status_code == 303


def test_without_the_csrf_token_nothing_is_written(client, zk, services_path):
    login(client)
    for form in ({}, {"csrf": "wrong"}):
        answer = client.post("/ui/qa/services", data={"destName": "nocsrf", **form})
        assert answer.status_code == 403 and b"CSRF" in answer.data and b"<html" in answer.data
    assert not zk.exists(services_path + "/nocsrf")
    token = csrf_of(client, "/ui/qa/")
    answer = client.post("/ui/qa/services", data={"destName": "nocsrf", "csrf": token})
    assert answer.status_code == 303 and zk.exists(services_path + "/nocsrf")


def test_a_reader_sees_no_forms_and_is_refused_on_the_server(client, zk, services_path):
    zk.create(services_path + "/ro")
    login(client, READER)
    page = shown(client, "ro")
    assert b"Add a server" not in page.data and b"Delete this service" not in page.data
    token = csrf_of(client, "/ui/qa/")
    answer = client.post("/ui/qa/s/ro/servers", data={"csrf": token, "serverHost": "10.0.0.1", "serverPort": "80"})
    assert answer.status_code == 403
    assert zk.get_children(services_path + "/ro") == []


@pytest.mark.parametrize(
    "form, message",
    [
        ({"serverHost": "not a host!", "serverPort": "80"}, b"serverHost"),
        ({"serverHost": "10.0.0.1", "serverPort": "99999"}, b"serverPort"),
    ],
)
def test_bad_input_is_an_html_error_and_changes_nothing(client, zk, services_path, form, message):
    zk.create(services_path + "/bad")
    login(client)
    shown(client, "bad")
    token = csrf_of(client, "/ui/qa/")
    answer = client.post("/ui/qa/s/bad/servers", data={"csrf": token, **form})
    assert answer.status_code == 400 and message in answer.data and b"Traceback" not in answer.data
    assert answer.content_type.startswith("text/html")
    assert zk.get_children(services_path + "/bad") == []


def test_delete_needs_the_typed_name_and_force_for_members(client, zk, services_path):
    zk.create(services_path + "/gone")
    zk.create(
        services_path + "/gone/member_",
        b'{"serviceEndpoint":{"host":"10.0.0.1","port":80},"status":"ALIVE"}',
        sequence=True,
    )
    login(client)
    shown(client, "gone", members=1)
    token = csrf_of(client, "/ui/qa/s/gone")
    assert client.post("/ui/qa/s/gone/delete", data={"csrf": token, "destName": "gon"}).status_code == 400
    assert client.post("/ui/qa/s/gone/delete", data={"csrf": token, "destName": "gone"}).status_code == 409
    assert zk.exists(services_path + "/gone")
    answer = client.post("/ui/qa/s/gone/delete", data={"csrf": token, "destName": "gone", "force": "true"})
    assert answer.status_code == 303 and not zk.exists(services_path + "/gone")


def test_services_search_paging_counts_and_recent_changes(client, zk, services_path):
    for i in range(55):
        zk.create("%s/pay-%02d" % (services_path, i))
    zk.create(services_path + "/other")
    zk.create(
        services_path + "/pay-00/member_",
        b'{"serviceEndpoint":{"host":"10.0.0.1","port":80},"status":"STOPPED"}',
        sequence=True,
    )
    login(client)

    def listed():
        page = client.get("/ui/qa/?q=PAY").data.decode()
        assert "55 services" in page and re.search(r"pay-00</a></td>\s*<td[^>]*>1<", page)
        return page

    first = eventually(listed)
    assert "55 services" in first and "page 1 of 2" in first and "other" not in first
    row = re.search(r"pay-00</a></td>\s*<td[^>]*>(\d+)</td>\s*<td[^>]*>(\d+)</td>", first)
    assert row.groups() == ("1", "0")
    second = client.get("/ui/qa/?q=pay&page=2").data.decode()
    assert "pay-54" in second and "pay-00" not in second
    token = csrf_of(client, "/ui/qa/s/pay-01")
    client.post("/ui/qa/s/pay-01/servers", data={"csrf": token, "serverHost": "10.1.1.1", "serverPort": "8080"})
    page = client.get("/ui/qa/s/pay-01").data.decode()
    assert "10.1.1.1:8080" in page and "add_server" in page and "this gateway process" in page


def test_home_shows_each_readable_zkidc_with_its_state(client, zk, services_path):
    zk.create(services_path + "/h")
    login(client, KEYS["qaonly"]["secret"])

    def connected():
        page = client.get("/ui/").data.decode()
        assert re.search(r'state-connected">connected.*?<td data-label="Services">1<', page, re.S)
        return page

    page = eventually(connected)
    assert ">qa</a>" in page and ">yz</a>" not in page


def test_version_changes_when_members_do(client, zk, services_path):
    zk.create(services_path + "/v")
    login(client)
    shown(client, "v")
    before = client.get("/ui/qa/s/v/version").json["version"]
    token = csrf_of(client, "/ui/qa/s/v")
    client.post("/ui/qa/s/v/servers", data={"csrf": token, "serverHost": "10.0.0.9", "serverPort": "9"})
    assert client.get("/ui/qa/s/v/version").json["version"] > before


def test_docs_page_and_vendored_explorer_are_served(client):
    page = client.get("/docs")
    assert page.status_code == 200 and b"swagger-ui-bundle.js" in page.data
    assert client.get("/ui/static/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_a_configured_secret_keeps_logins_across_processes(zk_server, chroot):
    """Two workers (here two apps) with the same [ui] secret accept each other's cookies."""
    from gateway import create_app
    from tests.conftest import make_config

    config = make_config(zk_server.hosts, chroot, sections={"ui": {"secret": "shared-console-secret"}})
    first, second = create_app(config, start=False), create_app(config, start=False)
    cookie = first.test_client().post("/ui/login", data={"key": OPS}).headers["Set-Cookie"]
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    client = second.test_client()
    client.set_cookie("soa_ui", value, path="/ui")
    assert client.get("/ui/login").status_code == 303  # signed in already: sent on to the console
    other = create_app(make_config(zk_server.hosts, chroot), start=False).test_client()
    other.set_cookie("soa_ui", value, path="/ui")
    assert other.get("/ui/login").status_code == 200  # a random secret of its own: the login form
