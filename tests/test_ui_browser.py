"""The ops console in Debian's headless Chromium (make chromium installs it),
against a real gateway process, reading ZooKeeper after every step.

With SOA_SCREENSHOTS=<dir> (make screenshots) the walk also saves PNGs of
the main pages there for the README.
"""

import json
import os

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import OPS

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = os.environ.get("SOA_SCREENSHOTS")
WAIT = 20  # seconds: generous, the machine is shared


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def site(gateway_process, browser):
    process = gateway_process()
    browser.set_window_size(1280, 800)
    browser.delete_all_cookies()
    return process.url


def shot(browser, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        browser.save_screenshot(os.path.join(SHOTS, name + ".png"))


def wait_for(browser, check):
    return WebDriverWait(browser, WAIT).until(lambda _: check())


def submit(browser, form_css, fields=None, button=None):
    """Fill a form's fields and press its (named) submit button, then wait for the next page."""
    form = browser.find_element(By.CSS_SELECTOR, form_css)
    for name, value in (fields or {}).items():
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    old = browser.find_element(By.TAG_NAME, "html")
    form.find_element(By.CSS_SELECTOR, button or "button[type=submit]").click()
    wait_for(browser, lambda: _gone(old))


def _gone(element):
    try:
        element.is_enabled()
        return False
    except Exception:  # noqa: BLE001 - stale: the page was replaced
        return True


def notice(browser):
    return browser.find_element(By.CSS_SELECTOR, ".notice").text


def members(zk, path):
    return {child: json.loads(zk.get("%s/%s" % (path, child))[0]) for child in zk.get_children(path)}


def log_in(browser, site):
    browser.get(site + "/")  # a browser at the root lands on the console, then its login form
    wait_for(browser, lambda: "/ui/login" in browser.current_url)
    shot(browser, "login")
    submit(browser, "form.card", {"key": OPS})
    wait_for(browser, lambda: browser.current_url.endswith("/ui/"))


def test_log_in_add_service_and_server_drain_enable_delete(site, browser, zk, services_path):
    log_in(browser, site)
    cookie = browser.get_cookie("soa_ui")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and OPS not in cookie["value"]
    assert "connected" in browser.find_element(By.CSS_SELECTOR, ".state").text
    shot(browser, "home")

    browser.find_element(By.LINK_TEXT, "qa").click()
    wait_for(browser, lambda: browser.current_url.endswith("/ui/qa/"))
    submit(browser, "form[action$='/services']", {"destName": "pay-api"})
    assert notice(browser) == "Service added." and zk.exists(services_path + "/pay-api")
    path = services_path + "/pay-api"

    submit(browser, "form[action$='/servers']", {"serverHost": "10.2.0.7", "serverPort": "8080"})
    assert notice(browser) == "Server added."
    (added,) = members(zk, path).values()
    assert added["serviceEndpoint"] == {"host": "10.2.0.7", "port": 8080} and added["status"] == "ALIVE"
    assert "10.2.0.7:8080" in browser.find_element(By.CSS_SELECTOR, "table.members").text

    submit(browser, "form.actions", button="button[value=drain]")
    assert notice(browser).startswith("Server drained")
    assert [m["status"] for m in members(zk, path).values()] == ["STOPPED"]

    submit(browser, "form.actions", button="button[value=enable]")
    assert notice(browser).startswith("Server enabled")
    assert [m["status"] for m in members(zk, path).values()] == ["ALIVE"]
    shot(browser, "service")

    submit(browser, "form.actions", button="button[value=delete]")
    assert notice(browser) == "Server deleted." and zk.get_children(path) == []

    submit(browser, "form[action$='/delete']", {"destName": "pay-api"})
    assert notice(browser) == "Service deleted." and not zk.exists(path)
    shot(browser, "services")


def test_a_form_without_its_csrf_token_writes_nothing(site, browser, zk, services_path):
    log_in(browser, site)
    browser.get(site + "/ui/qa/")
    browser.execute_script("document.querySelector(\"form[action$='/services'] input[name=csrf]\").remove()")
    submit(browser, "form[action$='/services']", {"destName": "forged"})
    assert "CSRF" in browser.find_element(By.CSS_SELECTOR, ".error").text
    assert not zk.exists(services_path + "/forged")


def test_the_service_page_refreshes_when_members_change(site, browser, zk, services_path):
    zk.create(services_path + "/live")
    log_in(browser, site)
    browser.get(site + "/ui/qa/s/live")
    wait_for(browser, lambda: "No members." in browser.page_source)
    member = b'{"serviceEndpoint":{"host":"10.9.9.9","port":9000},"status":"ALIVE","additionalEndpoints":{}}'
    zk.create(services_path + "/live/member_", member, sequence=True)
    wait_for(browser, lambda: "10.9.9.9:9000" in browser.find_element(By.TAG_NAME, "main").text)


def test_a_400_px_window_never_scrolls_sideways(site, browser, zk, services_path):
    zk.create(services_path + "/a-rather-long-service-name-for-a-narrow-window-check")
    long = {
        "serviceEndpoint": {"host": "host-with-a-long-name.example.internal", "port": 65000},
        "status": "ALIVE",
        "additionalEndpoints": {"admin": {"host": "host-with-a-long-name.example.internal", "port": 65001}},
        "metadata": {"owner": "team-with-a-very-long-name-that-would-not-wrap"},
    }
    zk.create(
        services_path + "/a-rather-long-service-name-for-a-narrow-window-check/member_",
        json.dumps(long).encode(),
        sequence=True,
    )
    log_in(browser, site)
    browser.set_window_size(400, 800)
    for page in ("/ui/", "/ui/qa/", "/ui/qa/s/a-rather-long-service-name-for-a-narrow-window-check"):
        browser.get(site + page)
        wait_for(browser, lambda: browser.find_element(By.TAG_NAME, "main").text)
        if page.startswith("/ui/qa/s/"):
            wait_for(browser, lambda: "65000" in browser.find_element(By.TAG_NAME, "main").text)
            shot(browser, "service-narrow")
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert width[0] <= width[1], (page, width)


def test_docs_explores_the_openapi_document_with_the_vendored_swagger_ui(site, browser):
    browser.get(site + "/docs")
    wait_for(browser, lambda: "soa-gateway" in browser.find_element(By.CSS_SELECTOR, "#swagger-ui").text)
    wait_for(browser, lambda: "/addserver" in browser.find_element(By.CSS_SELECTOR, "#swagger-ui").text)
    shot(browser, "docs")
