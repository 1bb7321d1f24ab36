"""Browser tests of the admin console: a real iam-gateway (tests/integration/gateway_process.py)
and a real headless Chromium driven by Selenium (Debian's chromium, chromium-driver and
python3-selenium; run with /usr/bin/python3).

    with ConsoleSession(gateway_exe) as s:   # gateway with a fresh SQLite store, bootstrapped
        s.create_user("alice", "alice-pass-1", ["admin"])
        s.open(); s.login("alice", "alice-pass-1"); s.screenshot("account")

Screenshots go to $CONSOLE_SCREENSHOTS (meson sets <build>/tests/console/screenshots), else
./console-screenshots. A missing browser or driver fails the test: nothing is skipped."""
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

from gateway_process import Checks, Gateway

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as error:
    sys.exit(f"FAIL: python3-selenium is needed for the console tests (scripts/install-deps): {error}")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_SECONDS = 20


def screenshot_dir():
    path = os.environ.get("CONSOLE_SCREENSHOTS") or os.path.join(os.getcwd(), "console-screenshots")
    os.makedirs(path, exist_ok=True)
    return path


def start_browser(width=1280, height=900):
    """Headless Chromium with a throw-away profile; performance (network) and browser logs on."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            sys.exit(f"FAIL: {path} is missing: install Debian's {package} (scripts/install-deps)")
    profile = tempfile.mkdtemp(prefix="iam-console-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--user-data-dir={profile}", f"--window-size={width},{height}", "--no-first-run",
                     "--disable-extensions", "--disable-background-networking", "--disable-sync",
                     "--disable-component-update", "--disable-default-apps", "--metrics-recording-only"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as error:
        shutil.rmtree(profile, ignore_errors=True)
        sys.exit(f"FAIL: headless Chromium did not start: {error.msg}")
    driver.profile_dir = profile
    return driver


class ConsoleSession:
    """A gateway (bootstrapped, with the admin API key in `admin_key`) and a browser."""

    def __init__(self, gateway_exe, *gateway_args, width=1280, height=900):
        self.gateway = Gateway(gateway_exe, "--bootstrap-mode", "bootstrap", *gateway_args)
        self.width, self.height = width, height
        self.driver = None
        self.checks = Checks()
        self.admin_key = None
        self.requests = []  # every URL the page asked for, from the performance log
        self.browser_log = []  # the browser's console messages (get_log empties the buffer)

    def __enter__(self):
        self.gateway.start()
        self.admin_key = self.checks.bootstrap(self.gateway)
        self.driver = start_browser(self.width, self.height)
        self.driver.get_log("performance")  # the browser's own start-up pages are not the console's
        return self

    def __exit__(self, *exc):
        if self.driver:
            try:
                self.driver.quit()
            finally:
                shutil.rmtree(self.driver.profile_dir, ignore_errors=True)
        self.gateway.stop()
        return False

    # ---------------------------------------------------------------- server side

    def create_user(self, username, password, roles, must_change_password=False, workspace=None):
        """Creates a user through the API with the admin key; returns its record."""
        request = {"operation": "create-user", "user": {
            "username": username, "name": username.title(), "email": f"{username}@example.com",
            "password": password, "roles": roles, "must_change_password": must_change_password}}
        if workspace:
            request["workspace"] = workspace
        return self.checks.iam_ok(self.gateway, request, self.admin_key, f"create-user {username}").get("user", {})

    # ---------------------------------------------------------------- browser

    @property
    def url(self):
        return self.gateway.url + "/console/"

    def open(self, fragment=""):
        self.driver.get(self.url + fragment)
        self.wait_visible("login-form" if not fragment else "page", what="the console to load")

    def find(self, element_id):
        return self.driver.find_element(By.ID, element_id)

    def wait(self, predicate, what, timeout=WAIT_SECONDS):
        """Waits until predicate(driver) is truthy; a timeout is a failed check (returns False)."""
        try:
            result = WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: predicate(d))
            self.checks.check(True, what)
            return result
        except TimeoutException:
            self.checks.check(False, f"timed out waiting for {what}")
            self.screenshot("timeout-" + "".join(c if c.isalnum() else "-" for c in what)[:60])
            return False

    def visible(self, element_id):
        found = self.driver.find_elements(By.ID, element_id)
        return bool(found) and found[0].is_displayed()

    def wait_visible(self, element_id, what=None):
        return self.wait(lambda d: self.visible(element_id), what or f"#{element_id} to show")

    def notice(self):
        return self.find("notice").text

    def wait_notice(self, text, what=None):
        return self.wait(lambda d: text in self.notice(), what or f"the notice to say {text!r}")

    def fill(self, element_id, value):
        element = self.find(element_id)
        element.clear()
        element.send_keys(value)

    def login(self, username, password, expect_page=True):
        self.wait_visible("login-form")
        self.fill("login-username", username)
        self.fill("login-password", password)
        self.driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        if expect_page:
            return self.wait_visible("page-title", f"{username}'s first page after login")
        return True

    def click_text(self, text, within="page"):
        """Clicks the button with exactly this visible text."""
        container = self.find(within) if within else self.driver
        for button in container.find_elements(By.TAG_NAME, "button"):
            if button.text.strip() == text and button.is_displayed():
                button.click()
                return True
        self.checks.check(False, f"a button {text!r} in #{within}")
        return False

    def nav_titles(self):
        return [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "#nav a")]

    def session_storage(self, key):
        return self.driver.execute_script("return sessionStorage.getItem(arguments[0]);", key)

    def local_storage_keys(self):
        return self.driver.execute_script("return Object.keys(localStorage);")

    def screenshot(self, name):
        path = os.path.join(screenshot_dir(), f"{name}.png")
        self.driver.save_screenshot(path)
        return path

    def set_size(self, width, height):
        self.driver.set_window_size(width, height)

    # ---------------------------------------------------------------- what the page did

    def collect_requests(self):
        """Every URL the console's pages asked for (Chrome's performance log, Network
        events whose document is on the gateway; the browser's own pages are not counted)."""
        own = self.origin(self.gateway.url)
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                params = message["params"]
                if self.origin(params.get("documentURL", "")) == own:
                    self.requests.append(params["request"]["url"])
        return self.requests

    @staticmethod
    def origin(url):
        parts = urllib.parse.urlsplit(url)
        return parts.scheme, parts.hostname, parts.port

    def foreign_requests(self):
        """Requests to anything but the gateway's own origin (data: URLs are local)."""
        own = self.origin(self.gateway.url)
        return [url for url in self.collect_requests() if not url.startswith("data:") and self.origin(url) != own]

    def csp_violations(self):
        """Browser log lines reporting a Content-Security-Policy refusal."""
        self.browser_log += [e["message"] for e in self.driver.get_log("browser")]
        return [m for m in self.browser_log if "Content Security Policy" in m]

    def reset(self):
        """A fresh start for the next scenario: no session, the login form."""
        self.driver.get(self.url)
        self.driver.execute_script("sessionStorage.clear();")
        self.open()

    def run(self, scenario):
        """Runs one scenario; an exception is a failed check (with a screenshot), and the
        scenarios after it still run."""
        print(f"-- {scenario.__name__}", flush=True)
        try:
            scenario(self)
        except Exception as error:  # a broken scenario must not hide the others' results
            self.checks.check(False, f"{scenario.__name__} raised {type(error).__name__}: {error}")
            try:
                self.screenshot(f"error-{scenario.__name__}")
            except WebDriverException:
                pass

    def pause(self, seconds):
        time.sleep(seconds)
