"""The console's shell in real headless Chromium against a real iam-gateway: serving and
its headers, log in (admin, wrong password, keyboard only), the caller's own API keys,
log out, an expired session (three ways), the forced password change, what a reader sees,
phone width, no request to another host and no CSP violation.

    /usr/bin/python3 test_console_shell.py path/to/iam-gateway"""
import json
import sys
import urllib.error
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from console_harness import ConsoleSession

EXE = sys.argv[1]
EXPIRED = "Your session has expired. Please log in again."
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url, method="GET", body=None, token=None):
    """(status, headers, body bytes) without following redirects."""
    request = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def security_headers_ok(c, headers, what):
    c.equal(headers.get("Content-Security-Policy"), CSP, f"{what}: Content-Security-Policy")
    c.equal(headers.get("X-Frame-Options"), "DENY", f"{what}: X-Frame-Options")
    c.equal(headers.get("X-Content-Type-Options"), "nosniff", f"{what}: X-Content-Type-Options")
    c.equal(headers.get("Referrer-Policy"), "no-referrer", f"{what}: Referrer-Policy")


# ---------------------------------------------------------------- scenarios

def serving(s):
    c, base = s.checks, s.gateway.url
    status, headers, body = fetch(base + "/console/")
    c.equal(status, 200, "GET /console/")
    c.equal(headers.get("Content-Type"), "text/html; charset=utf-8", "index.html's content type")
    c.check(b'id="login-form"' in body, "/console/ is the console's index.html")
    c.check(b"<script>" not in body and b"style=" not in body, "index.html has no inline script or style")
    security_headers_ok(c, headers, "GET /console/")
    for path, content_type in (("app.js", "text/javascript; charset=utf-8"), ("console.css", "text/css; charset=utf-8"),
                               ("pages/index.js", "text/javascript; charset=utf-8")):
        status, headers, _ = fetch(f"{base}/console/{path}")
        c.equal((status, headers.get("Content-Type")), (200, content_type), f"GET /console/{path}")
        security_headers_ok(c, headers, f"GET /console/{path}")
    status, headers, _ = fetch(base + "/console")
    c.equal((status, headers.get("Location")), (301, "/console/"), "/console redirects to /console/")
    security_headers_ok(c, headers, "the /console redirect")
    for path in ("/console/nope.js", "/console/pages/", "/console/../console/app.js", "/consolex", "/console/index.html/x"):
        status, headers, _ = fetch(base + path)
        c.equal(status, 404, f"GET {path}")
    status, headers, _ = fetch(base + "/console/nope.js")
    security_headers_ok(c, headers, "a console 404")
    status, headers, _ = fetch(base + "/console/app.js", method="POST", body={})
    c.equal(status, 405, "POST to a console file")
    # API answers are never cached
    status, headers, _ = fetch(base + "/api/v1/auth/login", "POST", {"username": "nobody", "password": "wrong-pass-1"})
    c.equal((status, headers.get("Cache-Control")), (401, "no-store"), "a login answer: Cache-Control no-store")
    status, headers, _ = fetch(base + "/api/v1/iam", "POST", {"operation": "whoami"}, s.admin_key)
    c.equal((status, headers.get("Cache-Control")), (200, "no-store"), "an IAM answer: Cache-Control no-store")


def wrong_password(s):
    c = s.checks
    s.reset()
    s.screenshot("login")
    s.login("alice", "not-her-password", expect_page=False)
    s.wait_notice("Log in failed: auth failure", "the masked login failure")
    c.check(s.visible("login-form"), "the login form stays after a wrong password")
    c.check(not s.visible("app-view"), "no console after a wrong password")
    c.equal(s.session_storage("iam-console.jwt"), None, "no token kept after a wrong password")
    c.equal(s.find("login-password").get_attribute("value"), "", "the wrong password is cleared")
    s.screenshot("login-failed")


def admin_login_and_own_keys(s):
    c, gw = s.checks, s.gateway
    s.reset()
    s.login("alice", "alice-pass-1")
    c.equal(s.find("page-title").text, "My account", "an admin lands on their account")
    s.wait(lambda d: "alice" in s.find("own-account").text, "alice's own record")
    c.check("admin" in s.find("own-account").text, "alice's roles are shown")
    c.check("alice" in s.find("whoami").text, "the header names the signed-in user")
    c.check(bool(s.session_storage("iam-console.jwt")), "the JWT is in sessionStorage")
    c.equal(s.local_storage_keys(), [], "nothing in localStorage")
    s.wait(lambda d: s.visible("own-key-form"), "the own-key form")
    s.screenshot("account")

    # create a key: shown once, and it works
    s.fill("own-key-name", "laptop")
    s.click_text("Create API key")
    s.wait_visible("secret-dialog", "the key shown once")
    plaintext = s.find("secret-value").get_attribute("value")
    c.check(plaintext.startswith("tg_"), f"the plaintext key is shown: {plaintext[:3]!r}…")
    c.check("shown once" in s.find("secret-warning").text, "the warning says it is shown once")
    s.screenshot("account-key-shown-once")
    s.click_text("Copy", within="secret-dialog")
    s.wait(lambda d: s.find("secret-copied").text == "Copied.", "the copy button to confirm")
    status, _ = gw.iam({"operation": "whoami"}, plaintext)
    c.equal(status, 200, "the new key authenticates")
    s.click_text("Done", within="secret-dialog")
    s.wait(lambda d: not s.visible("secret-dialog"), "the dialog to close")
    c.equal(s.find("secret-value").get_attribute("value"), "", "the secret is cleared from the page")
    s.wait(lambda d: "laptop" in s.find("own-keys").text, "the new key in the list")
    c.check(plaintext not in s.driver.page_source, "the plaintext is nowhere in the page any more")

    # revoke: cancel first (nothing happens), then confirm
    s.click_text("Revoke laptop")
    s.wait_visible("confirm-dialog", "the revoke confirmation")
    c.equal(s.driver.switch_to.active_element.get_attribute("id"), "confirm-cancel", "Cancel has the focus")
    s.click_text("Cancel", within="confirm-dialog")
    s.wait(lambda d: not s.visible("confirm-dialog"), "the confirmation to close")
    c.equal(gw.iam({"operation": "whoami"}, plaintext)[0], 200, "a cancelled revoke keeps the key")
    s.click_text("Revoke laptop")
    s.wait_visible("confirm-dialog", "the revoke confirmation again")
    s.click_text("Confirm", within="confirm-dialog")
    s.wait_notice('API key "laptop" revoked.')
    s.wait(lambda d: "laptop" not in s.find("own-keys").text, "the key gone from the list")
    c.equal(gw.iam({"operation": "whoami"}, plaintext)[0], 401, "the revoked key no longer authenticates")


def keyboard_login(s):
    c = s.checks
    s.reset()
    active = s.driver.switch_to.active_element
    c.equal(active.get_attribute("id"), "login-username", "the username field has the focus on load")
    active.send_keys("alice")
    active.send_keys(Keys.TAB)
    c.equal(s.driver.switch_to.active_element.get_attribute("id"), "login-password", "Tab reaches the password")
    s.driver.switch_to.active_element.send_keys("alice-pass-1", Keys.ENTER)
    s.wait_visible("page-title", "the account after a keyboard login")
    c.equal(s.driver.switch_to.active_element.get_attribute("id"), "page-title", "the page heading gets the focus")
    unlabelled = s.driver.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')]"
        ".filter(i => i.labels.length === 0).map(i => i.id || i.outerHTML);")
    c.equal(unlabelled, [], "every input has a label")
    nameless = s.driver.execute_script(
        "return [...document.querySelectorAll('button')].filter(b => !b.textContent.trim()).map(b => b.id);")
    c.equal(nameless, [], "every button has visible text")


def logout(s):
    c = s.checks
    s.reset()
    s.login("alice", "alice-pass-1")
    s.find("logout").click()
    s.wait_visible("login-form", "the login form after logout")
    s.wait_notice("You have logged out.")
    c.equal(s.session_storage("iam-console.jwt"), None, "logout forgets the JWT")
    c.equal(s.driver.switch_to.active_element.get_attribute("id"), "login-username", "the focus goes to the username")
    s.driver.refresh()
    s.wait_visible("login-form", "still logged out after a reload")
    c.check(not s.visible("app-view"), "no console after logout and reload")


def expired_by_clock(s):
    """The stored expiry has passed: a reload goes to the login form with the message."""
    c = s.checks
    s.reset()
    s.login("alice", "alice-pass-1")
    s.driver.execute_script("sessionStorage.setItem('iam-console.jwt-expires', String(Date.now() - 1000));")
    s.driver.refresh()
    s.wait_visible("login-form", "the login form for a session past its expiry")
    s.wait_notice(EXPIRED)
    c.equal(s.session_storage("iam-console.jwt"), None, "the expired JWT is forgotten")


def expired_by_401(s):
    """The server refuses the token (401) on a call: back to the login form."""
    c = s.checks
    s.reset()
    s.login("alice", "alice-pass-1")
    s.driver.execute_script("sessionStorage.setItem('iam-console.jwt', 'eyJhbGciOiJFUzI1NiJ9.e30.bm90LWEtc2lnbmF0dXJl');")
    s.driver.execute_script("location.reload();")
    s.wait_visible("login-form", "the login form after a 401")
    s.wait_notice(EXPIRED)
    c.equal(s.session_storage("iam-console.jwt"), None, "the refused JWT is forgotten")
    s.screenshot("session-expired")


def forced_password_change(s):
    c, gw = s.checks, s.gateway
    s.create_user("mona", "temporary-pass-1", ["writer"], must_change_password=True)
    s.reset()
    s.login("mona", "temporary-pass-1", expect_page=False)
    s.wait_visible("change-password-form", "the forced password change")
    c.check(not s.visible("app-view"), "no pages before the password is changed")
    c.equal(s.driver.switch_to.active_element.get_attribute("id"), "forced-current-password", "the form has the focus")
    s.screenshot("must-change-password")
    s.fill("forced-current-password", "temporary-pass-1")
    s.fill("forced-new-password", "mona-new-pass-1")
    s.fill("forced-repeat-password", "something-else-1")
    s.click_text("Change password", within="change-password-form")
    s.wait_notice("The new passwords differ.")
    c.check(s.visible("change-password-form"), "a mismatch keeps the form")
    s.fill("forced-current-password", "wrong-current-1")
    s.fill("forced-repeat-password", "mona-new-pass-1")
    s.click_text("Change password", within="change-password-form")
    s.wait_notice("Password not changed: auth failure", "a wrong current password refused")
    s.fill("forced-current-password", "temporary-pass-1")
    s.fill("forced-new-password", "mona-new-pass-1")
    s.fill("forced-repeat-password", "mona-new-pass-1")
    s.click_text("Change password", within="change-password-form")
    s.wait_visible("page-title", "the console after the change")
    c.check(s.visible("nav"), "the menu after the change")
    status, text = gw.post("/api/v1/auth/login", {"username": "mona", "password": "mona-new-pass-1"})
    c.equal(status, 200, "the new password logs in")
    token = json.loads(text).get("jwt") if status == 200 else None
    body = gw.iam({"operation": "whoami"}, token)[1] if token else {}
    c.equal(body.get("user", {}).get("must_change_password") if isinstance(body, dict) else None, False,
            "must_change_password is cleared")


def change_own_password(s):
    """The account page's password change keeps the session (the console logs in again)."""
    c, gw = s.checks, s.gateway
    s.create_user("carl", "carl-pass-1", ["writer"])
    s.reset()
    s.login("carl", "carl-pass-1")
    s.wait(lambda d: s.visible("own-password-form"), "the password form")
    s.fill("own-current-password", "carl-pass-1")
    s.fill("own-new-password", "carl-new-pass-1")
    s.fill("own-repeat-password", "carl-new-pass-1")
    s.click_text("Change password")
    s.wait_notice("Your password has been changed.")
    s.driver.refresh()
    s.wait(lambda d: s.visible("own-account") and "carl" in s.find("own-account").text,
           "still signed in after the change and a reload")
    c.equal(gw.post("/api/v1/auth/login", {"username": "carl", "password": "carl-new-pass-1"})[0], 200,
            "the new password logs in")
    c.equal(gw.post("/api/v1/auth/login", {"username": "carl", "password": "carl-pass-1"})[0], 401,
            "the old one does not")


def reader_sees_only_own_account(s):
    c = s.checks
    s.create_user("rita", "rita-pass-1", ["reader"])
    s.reset()
    s.login("rita", "rita-pass-1")
    c.equal(s.nav_titles(), ["My account"], "a reader's menu is their account alone")
    s.wait(lambda d: "rita" in s.find("own-account").text, "rita's own record")
    c.check("alice" not in s.find("page").text, "nothing about other users")
    s.wait(lambda d: s.visible("own-keys-refused"), "the keys section says what the server refused")
    s.screenshot("reader-account")
    for page_id in ("users", "keys", "workspaces", "signing-keys", "permissions"):
        s.driver.execute_script("location.hash = arguments[0];", f"#/{page_id}")
        s.wait(lambda d: s.find("page-title").text == "My account", f"#/{page_id} falls back to the reader's account")
    c.equal(s.nav_titles(), ["My account"], "still only the account in the menu")


def phone_width(s):
    c = s.checks
    s.reset()
    s.set_size(390, 844)
    try:
        s.login("alice", "alice-pass-1")
        s.wait(lambda d: s.visible("own-key-form"), "the account at phone width")
        overflow = s.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth;")
        c.check(overflow <= 0, f"no sideways scrolling at phone width (overflow {overflow}px)")
        s.screenshot("account-phone")
    finally:
        s.set_size(s.width, s.height)


def nothing_foreign(s):
    c = s.checks
    c.check(len(s.collect_requests()) > 10, f"the network log saw the page's requests ({len(s.requests)})")
    c.equal(s.foreign_requests(), [], "no request to another host")
    c.equal(s.csp_violations(), [], "no Content-Security-Policy violation")


def expires_while_open():
    """A real short-lived JWT (--jwt-lifetime 6): the open console goes back to the login
    form by itself when it expires."""
    with ConsoleSession(EXE, "--jwt-lifetime", "6") as s:
        c = s.checks
        s.create_user("alice", "alice-pass-1", ["admin"])
        s.open()
        s.login("alice", "alice-pass-1")
        s.wait(lambda d: s.visible("login-form"), "the login form once the 6 s JWT expired", timeout=20)
        s.wait_notice(EXPIRED)
        c.equal(s.session_storage("iam-console.jwt"), None, "the expired JWT is forgotten")
    return c


def console_off():
    with ConsoleSession(EXE, "--no-console") as s:
        status, _, _ = fetch(s.gateway.url + "/console/")
        s.checks.equal(status, 404, "--no-console: /console/ is 404")
        status, _, _ = fetch(s.gateway.url + "/console/app.js")
        s.checks.equal(status, 404, "--no-console: /console/app.js is 404")
    return s.checks


def main():
    with ConsoleSession(EXE) as s:
        s.create_user("alice", "alice-pass-1", ["admin"])
        s.open()
        for scenario in (serving, wrong_password, admin_login_and_own_keys, keyboard_login, logout,
                         expired_by_clock, expired_by_401, forced_password_change, change_own_password,
                         reader_sees_only_own_account,
                         phone_width, nothing_foreign):
            s.run(scenario)
        checks = s.checks
    for extra in (expires_while_open, console_off):
        print(f"-- {extra.__name__}", flush=True)
        more = extra()
        checks.count += more.count
        checks.failures += more.failures
    checks.done()


main()
