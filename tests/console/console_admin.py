"""The admin console's admin pages (issue 20) in real headless Chromium against a real
iam-gateway (console_harness.py): users, API keys, workspaces, signing keys and who can do
what, each action checked in the browser and then against the server itself (the API the
console uses, called directly). Screenshots of each page go to $CONSOLE_SCREENSHOTS.

    console_admin.py IAM_GATEWAY"""
import base64
import datetime
import json
import os
import sys

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from console_harness import ConsoleSession

for name in ("IAM_BOOTSTRAP_MODE", "IAM_BOOTSTRAP_TOKEN"):
    os.environ.pop(name, None)

ROOT_PASSWORD = "root-password-1"
RITA_PASSWORD = "rita-password-1"
ADMIN_PAGES = {"nav-users", "nav-keys", "nav-workspaces", "nav-signing-keys", "nav-access"}
c = None  # the session's Checks, set in main()


def seconds(rfc3339):
    """Seconds since the epoch of the protocol's `2026-11-22T10:15:00Z` times (0 when absent)."""
    return int(datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()) if rfc3339 else 0


def when_text(rfc3339):
    """A time as the console shows it (ui.js formatTime): `2026-11-22 10:15 UTC`."""
    return f"{rfc3339[:10]} {rfc3339[11:16]} UTC" if rfc3339 else ""


def kid_of(jwt):
    header = jwt.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


class Console:
    """The harness's session, with the moves the admin pages need (CSS selectors, table
    rows by their data attributes, the confirmation and secret dialogs)."""

    def __init__(self, session):
        self.s, self.d, self.gw = session, session.driver, session.gateway

    def wait(self, condition, what):
        return self.s.wait(lambda _: condition(), what)

    def find(self, selector):
        found = self.d.find_elements(By.CSS_SELECTOR, selector)
        return found[0] if found else None

    def shown(self, selector):
        element = self.find(selector)
        return element if element is not None and element.is_displayed() else None

    def notice(self):
        return self.s.notice()

    def login(self, username, password):
        self.s.open()
        return self.s.login(username, password)

    def nav_ids(self):
        return sorted(a.get_attribute("id") for a in self.d.find_elements(By.CSS_SELECTOR, "#nav-list a"))

    def open(self, page_id, ready):
        self.d.find_element(By.ID, f"nav-{page_id}").click()
        return self.wait(lambda: self.find(f"#page-{page_id} {ready}"), f"page {page_id}: {ready}")

    def row(self, attribute, value):
        return self.find(f"tr[{attribute}='{value}']")

    def cell(self, attribute, value, column):
        row = self.row(attribute, value)
        cell = row.find_elements(By.CSS_SELECTOR, f"td[data-label='{column}']") if row is not None else []
        return cell[0].text if cell else None

    def click_in_row(self, attribute, value, action):
        self.row(attribute, value).find_element(By.CSS_SELECTOR, f"button[data-action='{action}']").click()

    def confirm(self, accept=True):
        """Answers the confirmation dialog; returns its text."""
        self.wait(lambda: self.shown("#confirm-dialog"), "the confirmation dialog")
        text = self.d.find_element(By.ID, "confirm-text").text
        self.d.find_element(By.ID, "confirm-ok" if accept else "confirm-cancel").click()
        self.wait(lambda: not self.shown("#confirm-dialog"), "the confirmation dialog to close")
        return text

    def read_secret(self):
        """Reads the secret dialog once (value and warning) and closes it."""
        self.wait(lambda: self.shown("#secret-dialog"), "the secret dialog")
        value = self.d.find_element(By.ID, "secret-value").get_attribute("value")
        warning = self.d.find_element(By.ID, "secret-warning").text
        self.d.find_element(By.ID, "secret-done").click()
        self.wait(lambda: not self.shown("#secret-dialog"), "the secret dialog to close")
        return value, warning

    def fill(self, form, name, text):
        element = self.d.find_element(By.CSS_SELECTOR, f"{form} [name='{name}']")
        element.clear()
        element.send_keys(text)

    def screenshot(self, name):
        self.s.screenshot(name)

    def everything_shown(self):
        """The page's markup and every input's value: where a leaked secret would be."""
        values = self.d.execute_script("return [...document.querySelectorAll('input')].map((i) => i.value).join(' ')")
        return self.d.page_source + " " + values


def api(gw, credential, operation, **fields):
    return c.iam_ok(gw, {"operation": operation, **fields}, credential, operation)


def works(gw, credential):
    status, _ = gw.iam({"operation": "whoami"}, credential)
    return status == 200


def users_by_name(gw, key):
    return {u["username"]: u for u in api(gw, key, "list-users").get("users", [])}


def users_page(ui):
    ui.open("users", "tr[data-username='root']")
    c.check(ui.row("data-username", "admin") is not None and ui.row("data-username", "rita") is not None,
            "users page lists admin and rita")
    c.equal(ui.cell("data-username", "rita", "Workspace"), "lab", "rita's workspace shown")
    c.equal(ui.cell("data-username", "rita", "Roles"), "reader", "rita's roles shown")
    c.equal(ui.cell("data-username", "root", "Enabled"), "yes", "root shown enabled")
    ui.screenshot("users")
    ui.d.set_window_size(390, 844)
    ui.screenshot("users-phone")
    ui.d.set_window_size(1280, 900)

    Select(ui.find("#page-users select[name='workspace']")).select_by_value("lab")
    ui.wait(lambda: ui.row("data-username", "root") is None, "the filter to drop root")
    c.check(ui.row("data-username", "rita") is not None, "filter lab: rita listed")
    c.equal(len(ui.d.find_elements(By.CSS_SELECTOR, "#users-list tbody tr")), 1, "filter lab: one user")
    Select(ui.find("#page-users select[name='workspace']")).select_by_value("")
    ui.wait(lambda: ui.row("data-username", "root"), "all users again")

    ui.click_in_row("data-username", "root", "disable")
    c.check("your own account" in ui.confirm(accept=False), "disabling yourself is called out before confirming")
    c.equal(ui.cell("data-username", "root", "Enabled"), "yes", "cancelled: root still enabled")


def create_and_edit_user(ui, gw, key):
    form = "#create-user"
    # Refusals are shown with the server's error type, and nothing is created.
    ui.fill(form, "username", "aliceliddell")
    ui.fill(form, "password", "aliceliddell")  # long enough for the form, but the username
    ui.find(f"{form} button[type=submit]").click()
    ui.wait(lambda: "weak-password" in ui.notice(), "the weak password refusal")
    c.check("aliceliddell" not in users_by_name(gw, key), "a refused create makes no user")
    ui.fill(form, "username", "RITA")
    ui.fill(form, "password", "another-password-1")
    ui.find(f"{form} button[type=submit]").click()
    ui.wait(lambda: "duplicate" in ui.notice(), "the duplicate username refusal")
    ui.fill(form, "username", "alice")
    ui.fill(form, "name", "Alice")
    ui.fill(form, "email", "alice@example.org")
    ui.fill(form, "password", "alice-password-1")
    ui.find(f"{form} button[type=submit]").click()
    ui.wait(lambda: ui.row("data-username", "alice"), "alice's row")
    alice = users_by_name(gw, key).get("alice", {})
    c.equal((alice.get("name"), alice.get("email"), alice.get("roles"), alice.get("workspace"),
             alice.get("must_change_password")),
            ("Alice", "alice@example.org", ["reader"], "default", True), "alice as the server stored her")
    status, _ = gw.post("/api/v1/auth/login", {"username": "alice", "password": "alice-password-1"})
    c.equal(status, 200, "alice logs in with the password the form set")

    ui.click_in_row("data-username", "alice", "edit")
    ui.wait(lambda: ui.find("form.edit-user"), "the edit form")
    ui.fill("form.edit-user", "name", "Alice Liddell")
    writer = ui.find("form.edit-user input[name='role'][value='writer']")
    writer.click()
    ui.find("form.edit-user button[type=submit]").click()
    ui.wait(lambda: ui.cell("data-username", "alice", "Name") == "Alice Liddell", "alice renamed")
    c.equal(ui.cell("data-username", "alice", "Roles"), "reader, writer", "alice's new roles shown")
    alice = users_by_name(gw, key).get("alice", {})
    c.equal((alice.get("name"), sorted(alice.get("roles", []))), ("Alice Liddell", ["reader", "writer"]),
            "alice's edit reached the server")
    return alice.get("id")


def keys_page(ui, gw, alice_id):
    ui.click_in_row("data-username", "alice", "keys")
    ui.wait(lambda: ui.find("#page-keys #create-key"), "alice's keys page")
    c.equal(Select(ui.find("#keys-user")).first_selected_option.get_attribute("value"), alice_id,
            "the keys page opened on alice")
    ui.fill("#create-key", "name", "ci")
    ui.find("#create-key button[type=submit]").click()
    plaintext, warning = ui.read_secret()
    c.check(plaintext.startswith("tg_") and len(plaintext) == 35, f"a key's plaintext shown once: {plaintext[:3]}…")
    c.check("once" in warning, f"the plaintext comes with a warning: {warning!r}")
    c.check(works(gw, plaintext), "the shown key works against the gateway")
    ui.wait(lambda: ui.row("data-key-name", "ci"), "the ci key's row")
    c.equal(ui.cell("data-key-name", "ci", "Prefix"), plaintext[:7] + "…", "the row shows the key's prefix")
    c.check(plaintext not in ui.everything_shown(), "the plaintext is gone once the dialog is closed")
    ui.screenshot("keys")

    ui.open("users", "tr[data-username='alice']")
    ui.open("keys", "#keys-user")
    Select(ui.find("#keys-user")).select_by_value(alice_id)
    ui.wait(lambda: ui.row("data-key-name", "ci"), "the ci key after navigating back")
    c.check(plaintext not in ui.everything_shown(), "navigating back does not show the plaintext again")
    c.check(not ui.shown("#secret-dialog"), "no secret dialog after navigating back")

    ui.click_in_row("data-key-name", "ci", "revoke")
    text = ui.confirm()
    c.check("ci" in text and "cannot be undone" in text, f"revoke asks first: {text!r}")
    ui.wait(lambda: ui.row("data-key-name", "ci") is None, "the revoked key's row to go")
    c.check(not works(gw, plaintext), "the revoked key is refused by the gateway")

    ui.fill("#create-key", "name", "second")
    ui.find("#create-key button[type=submit]").click()
    second, _ = ui.read_secret()
    c.check(works(gw, second), "the second key works")
    ui.wait(lambda: ui.row("data-key-name", "second"), "the second key's row")
    return second


def disable_user(ui, gw, key, alice_id, second):
    ui.open("users", "tr[data-username='alice']")
    ui.click_in_row("data-username", "alice", "disable")
    c.check("API keys are revoked" in ui.confirm(accept=False), "disabling names the keys it revokes")
    c.equal(ui.cell("data-username", "alice", "Enabled"), "yes", "cancelled: alice still enabled")
    c.check(works(gw, second), "cancelled: the key still works")
    ui.click_in_row("data-username", "alice", "disable")
    ui.confirm()
    ui.wait(lambda: ui.cell("data-username", "alice", "Enabled") == "no", "alice shown disabled")
    c.check(not works(gw, second), "disabling alice revoked her key at the gateway")
    ui.click_in_row("data-username", "alice", "keys")
    ui.wait(lambda: ui.find("#keys-area p.empty"), "alice's empty key list")
    c.check(ui.row("data-key-name", "second") is None, "the keys page shows none of alice's keys")
    c.check("disabling a user revokes" in ui.find("#keys-area").text, "the keys page says why")
    c.equal(api(gw, key, "list-api-keys", user_id=alice_id).get("api_keys"), [], "the server lists no key either")

    ui.open("users", "tr[data-username='alice']")
    ui.click_in_row("data-username", "alice", "enable")
    ui.wait(lambda: ui.cell("data-username", "alice", "Enabled") == "yes", "alice enabled again")
    ui.click_in_row("data-username", "alice", "reset-password")
    ui.confirm()
    temporary, _ = ui.read_secret()
    status, _ = gw.post("/api/v1/auth/login", {"username": "alice", "password": temporary})
    c.equal(status, 200, "the temporary password shown once logs alice in")

    ui.click_in_row("data-username", "alice", "delete")
    ui.confirm()
    ui.wait(lambda: ui.row("data-username", "alice") is None, "alice's row to go after delete")
    c.check("alice" not in users_by_name(gw, key), "alice deleted on the server")


def signing_keys_page(ui):
    gw = ui.gw
    ui.open("signing-keys", "#current-kid")
    before = ui.find("#current-kid").text
    status, text = gw.post("/api/v1/auth/login", {"username": "root", "password": ROOT_PASSWORD})
    c.equal(kid_of(json.loads(text)["jwt"]) if status == 200 else None, before,
            "the current kid shown is the one that signs tokens")
    statuses = {tr.get_attribute("data-kid"): tr.get_attribute("data-status")
                for tr in ui.d.find_elements(By.CSS_SELECTOR, "tr[data-kid]")}
    nexts = [kid for kid, status in statuses.items() if status == "next"]
    c.equal(sorted(statuses.values()), ["current", "next"], "two keys: current and next")
    jwks = json.loads(gw.request("GET", "/api/v1/auth/jwks")[1])
    c.equal(sorted(statuses), sorted(k["kid"] for k in jwks["keys"]), "the page lists the JWKS's keys")
    ui.screenshot("signing-keys")

    ui.find("#rotate-signing-key").click()
    c.check("grace" in ui.confirm(), "rotating explains the grace period first")
    ui.wait(lambda: ui.find("#current-kid") and ui.find("#current-kid").text not in ("", before),
            "the current kid to change")
    after = ui.find("#current-kid").text
    c.equal([after], nexts, "the published next key became current")
    status, text = gw.post("/api/v1/auth/login", {"username": "root", "password": ROOT_PASSWORD})
    c.equal(kid_of(json.loads(text)["jwt"]) if status == 200 else None, after, "new tokens carry the kid shown")
    rows = {tr.get_attribute("data-kid"): tr for tr in ui.d.find_elements(By.CSS_SELECTOR, "tr[data-kid]")}
    statuses = {kid: tr.get_attribute("data-status") for kid, tr in rows.items()}
    c.equal(statuses.get(before), "grace", "the old key is shown in grace")
    c.equal(sorted(statuses.values()), ["current", "grace", "next"], "after rotation: exactly one current, one next, one grace")
    c.equal(statuses.get(after), "current", "the key that signs is shown current")
    listed = {k["kid"]: k for k in api(gw, ui.s.admin_key, "list-signing-keys").get("signing_keys", [])}
    c.equal(sorted(listed), sorted(rows), "the page shows the keys list-signing-keys lists")
    old = listed.get(before, {})
    grace_ends = rows[before].get_attribute("data-grace-ends") if before in rows else None
    c.check(bool(grace_ends) and grace_ends == old.get("grace_ends"), f"the grace key carries its end time: {grace_ends}")
    c.equal(seconds(old.get("grace_ends")) - seconds(old.get("retired")), 3660, "grace ends the default grace after retiring")
    c.check(when_text(grace_ends) in rows[before].text, "the grace end time is shown")
    c.check(not rows[after].get_attribute("data-grace-ends") and not rows[nexts[0]].get_attribute("data-grace-ends"),
            "current and next keys have no grace end")
    c.check(ui.shown("#app-view") is not None, "the console's own session survives the rotation")


def capabilities_shown(ui, workspace):
    """The capabilities the who-can-do-what matrix marks granted in `workspace`."""
    return set(ui.d.execute_script(
        "return [...document.querySelectorAll(`tr[data-capability] td[data-workspace='${arguments[0]}']`)]"
        ".filter((td) => td.dataset.granted === 'yes').map((td) => td.parentElement.dataset.capability)", workspace))


def access_page(ui):
    gw, key = ui.gw, ui.s.admin_key
    ui.open("access", "#access-user")
    users = users_by_name(gw, key)
    Select(ui.find("#access-user")).select_by_value(users["rita"]["id"])
    ui.wait(lambda: ui.find("td[data-workspace='lab']"), "rita's capabilities")
    in_lab, in_default = capabilities_shown(ui, "lab"), capabilities_shown(ui, "default")
    c.check({"graph:read", "documents:read", "keys:self"} <= in_lab, "a reader reads in her home workspace")
    c.check(not in_lab & {"graph:write", "users:read", "users:admin", "iam:admin"},
            f"a reader has no write or admin capability: {sorted(in_lab & {'graph:write', 'users:admin'})}")
    c.equal(in_default, set(), "a reader has nothing outside her home workspace")
    ui.screenshot("access-reader")

    Select(ui.find("#access-user")).select_by_value(users["root"]["id"])
    ui.wait(lambda: "iam:admin" in capabilities_shown(ui, "lab"), "root's capabilities")
    for workspace in ("lab", "default", "*"):
        shown = capabilities_shown(ui, workspace)
        c.check({"users:admin", "iam:admin", "workspaces:admin", "graph:write", "graph:read"} <= shown,
                f"an admin holds the admin capabilities in {workspace}")
    ui.screenshot("access")

    # The server agrees: rita may not list users (no users:read), root may.
    status, text = gw.post("/api/v1/auth/login", {"username": "rita", "password": RITA_PASSWORD})
    rita_jwt = json.loads(text)["jwt"] if status == 200 else None
    c.equal(gw.iam({"operation": "list-users"}, rita_jwt)[0], 403, "the gateway refuses rita users:read too")


def workspaces_page(ui):
    gw, key = ui.gw, ui.s.admin_key
    ui.open("workspaces", "tr[data-workspace='lab']")
    ui.screenshot("workspaces")
    ui.fill("#create-workspace", "id", "temp")
    ui.find("#create-workspace button[type=submit]").click()
    ui.wait(lambda: ui.row("data-workspace", "temp"), "the temp workspace's row")
    ui.click_in_row("data-workspace", "temp", "rename")
    ui.wait(lambda: ui.find("form.rename-workspace"), "the rename form")
    ui.fill("form.rename-workspace", "name", "Temporary")
    ui.find("form.rename-workspace button[type=submit]").click()
    ui.wait(lambda: ui.cell("data-workspace", "temp", "Name") == "Temporary", "temp renamed")
    stored = {w["id"]: w for w in api(gw, key, "list-workspaces").get("workspaces", [])}
    c.equal(stored.get("temp", {}).get("name"), "Temporary", "the rename reached the server")

    tom = api(gw, key, "create-user", workspace="temp",
              user={"username": "tom", "password": "tom-password-1", "roles": ["writer"]}).get("user", {})
    tom_key = api(gw, key, "create-api-key", key={"user_id": tom.get("id"), "name": "t"}).get("api_key_plaintext")
    ui.click_in_row("data-workspace", "temp", "disable")
    text = ui.confirm()
    c.check("1 enabled user(s)" in text and "tom" in text and "1 API key(s)" in text,
            f"the cascade is explained before disabling: {text!r}")
    ui.wait(lambda: ui.cell("data-workspace", "temp", "Enabled") == "no", "temp shown disabled")
    c.check(not works(gw, tom_key), "disabling the workspace revoked tom's key")
    c.equal(users_by_name(gw, key).get("tom", {}).get("enabled"), False, "and disabled tom")
    ui.click_in_row("data-workspace", "temp", "enable")
    ui.wait(lambda: ui.cell("data-workspace", "temp", "Enabled") == "yes", "temp enabled again")
    c.equal(users_by_name(gw, key).get("tom", {}).get("enabled"), False, "enabling the workspace leaves tom disabled")


def reader_sees_no_admin_page(ui):
    ui.d.find_element(By.ID, "logout").click()
    ui.wait(lambda: ui.shown("#login-username"), "the login form after logging out")
    if ui.login("rita", RITA_PASSWORD):
        c.equal(set(ui.nav_ids()) & ADMIN_PAGES, set(), "a reader is offered no admin page")
        ui.d.execute_script("location.hash = '#/users'")
        ui.wait(lambda: ui.find("#page > .page-body"), "a page after asking for #/users")
        c.check(ui.find("#page-users") is None, "a reader who types #/users does not get the users page")


def main():
    global c
    with ConsoleSession(sys.argv[1]) as session:
        c, gw, key = session.checks, session.gateway, session.admin_key
        session.create_user("root", ROOT_PASSWORD, ["admin"])
        api(gw, key, "create-workspace", workspace_record={"id": "lab", "name": "Laboratory"})
        session.create_user("rita", RITA_PASSWORD, ["reader"], workspace="lab")
        ui = Console(session)
        if not ui.login("root", ROOT_PASSWORD):
            c.done()
        c.check(ADMIN_PAGES <= set(ui.nav_ids()), f"an admin is offered every admin page: {ui.nav_ids()}")
        scenarios = [users_page, keys_and_users, signing_keys_page, access_page, workspaces_page,
                     reader_sees_no_admin_page]
        for scenario in scenarios:
            def run(_, scenario=scenario):
                scenario(ui)
            run.__name__ = scenario.__name__  # the harness prints it
            session.run(run)
        c.equal(session.csp_violations(), [], "no Content-Security-Policy violation on the admin pages")
        c.equal(session.foreign_requests(), [], "the admin pages asked no other host for anything")
    c.done()


def keys_and_users(ui):
    gw, key = ui.gw, ui.s.admin_key
    alice_id = create_and_edit_user(ui, gw, key)
    second = keys_page(ui, gw, alice_id)
    disable_user(ui, gw, key, alice_id, second)


if __name__ == "__main__":
    main()
