"""The platform inside a real JupyterHub started from deploy/jupyterhub_config.py: its routes at
the original's paths, JSON errors in JupyterHub's shape, access by scopes for cookies (with
XSRF) and tokens, the settings page that never shows a secret, and the admin whose password the
deployer set."""

from __future__ import annotations

import pytest

from tests.backends.platform import (
    ADMIN_PASSWORD,
    HubClient,
    signed_up_user,
    start_platform,
)

pytestmark = pytest.mark.real

DB_PASSWORD = "db-secret-4711"


@pytest.fixture(scope="module")
def hub(jupyterhub_factory_module, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("foundation")
    return start_platform(
        jupyterhub_factory_module,
        tmp,
        # A URL with a password, to show it is masked (the hub never connects to it: the
        # stellars database is only opened when a service first needs it).
        env={"STELLARS_SPAWNER": "local", "JUPYTERHUB_NOTEBOOK_IMAGE": "example/lab:1"},
    )


@pytest.fixture(scope="module")
def admin(hub):
    client = HubClient(hub.public_url)
    client.login("admin", ADMIN_PASSWORD)
    return client


@pytest.fixture(scope="module")
def bob(hub, admin):
    return signed_up_user(hub.public_url, admin, "bob", "bobs-password-1")


class TestTheSettingsPage:
    def test_anonymous_visitors_are_sent_to_the_login_page(self, hub):
        answer = HubClient(hub.public_url).page("/settings")
        assert answer.status_code == 302
        assert "/hub/login?next=" in answer.headers["Location"]

    def test_a_user_who_is_not_an_admin_is_refused(self, bob):
        assert bob.page("/settings").status_code == 403

    def test_the_admin_sees_every_variable_by_category_without_secrets(self, admin):
        answer = admin.page("/settings")
        assert answer.status_code == 200
        page = answer.text
        for expected in (
            "Platform settings",
            "JUPYTERHUB_ACTIVITYMON_RETENTION_DAYS",
            "Idle culler and sessions",
            "example/lab:1",
            "1-365",
            "jupyterlab-{username}_home",
            "local (STELLARS_SPAWNER=local)",
            "GPU support is off (mode 0)",
        ):
            assert expected in page, expected
        assert ADMIN_PASSWORD not in page
        assert "JUPYTERHUB_ADMIN_PASSWORD" in page and "(set)" in page

    def test_the_nav_bar_links_the_settings_page_for_admins_only(self, admin, bob):
        assert 'href="/hub/settings"' in admin.page("/home").text
        assert 'href="/hub/settings"' not in bob.page("/home").text


class TestTheSettingsAPI:
    """The API base on its first route: who may call it, and how errors look."""

    def test_anonymous_callers_get_a_json_403(self, hub):
        answer = HubClient(hub.public_url).api("GET", "/settings")
        assert answer.status_code == 403
        assert answer.json() == {"status": 403, "message": "Missing or invalid credentials."}

    def test_a_user_gets_403_naming_the_scope(self, bob):
        answer = bob.api("GET", "/settings")
        assert answer.status_code == 403
        assert "custom:stellars:settings" in answer.json()["message"]

    def test_the_admin_by_cookie_with_xsrf_gets_the_settings(self, admin):
        answer = admin.api("GET", "/settings")
        assert answer.status_code == 200
        body = answer.json()
        rows = {row["variable"]: row for row in body["settings"]}
        assert rows["JUPYTERHUB_ADMIN_PASSWORD"]["value"] == "(set)"
        assert ADMIN_PASSWORD not in answer.text
        assert body["facts"]["User servers"].startswith("local")

    def test_a_scripted_cookie_request_without_the_xsrf_header_is_refused(self, admin):
        # What a page's fetch() sends: JupyterHub exempts only plain navigations from XSRF.
        browser_fetch = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin"}
        answer = admin.api("GET", "/settings", xsrf=False, headers=browser_fetch)
        assert answer.status_code == 403
        assert answer.json()["message"] == "'_xsrf' argument missing from GET"

    def test_a_state_changing_cookie_request_without_xsrf_is_refused(self, admin):
        answer = admin.api("DELETE", "/settings", xsrf=False)
        assert answer.status_code == 403
        assert answer.json()["status"] == 403

    def test_a_token_with_the_scope_is_enough(self, hub, admin):
        token = admin.new_token("admin", ["custom:stellars:settings"])
        assert HubClient(hub.public_url, token).api("GET", "/settings").status_code == 200

    def test_a_token_without_the_scope_gets_403(self, hub, admin, bob):
        token = admin.new_token("admin", ["read:users"])
        answer = HubClient(hub.public_url, token).api("GET", "/settings")
        assert answer.status_code == 403
        user_token = bob.new_token("bob")
        assert HubClient(hub.public_url, user_token).api("GET", "/settings").status_code == 403

    def test_an_admin_token_inheriting_the_admins_rights_is_enough(self, hub, admin):
        token = admin.new_token("admin")
        assert HubClient(hub.public_url, token).api("GET", "/settings").status_code == 200

    def test_a_wrong_method_is_a_json_405(self, admin):
        answer = admin.api("DELETE", "/settings")
        assert answer.status_code == 405
        assert answer.json()["status"] == 405

    @pytest.mark.parametrize("path", ["/activity/nope", "/notifications/x/y", "/admin/what"])
    def test_unknown_routes_under_the_platform_prefixes_are_json_404s(self, admin, path):
        answer = admin.api("POST", path, json={})
        assert answer.status_code == 404
        assert answer.json() == {
            "status": 404,
            "message": f"No such route: POST /hub/api{path}",
        }


class TestTheAdminsPassword:
    def test_the_admin_exists_at_start_with_the_deployers_password(self, hub):
        HubClient(hub.public_url).login("admin", ADMIN_PASSWORD)

    def test_nobody_can_sign_up_under_the_admins_name(self, hub):
        visitor = HubClient(hub.public_url)
        answer = visitor.signup("admin", "an-attackers-password")
        assert answer.status_code == 200
        refused = visitor.session.post(
            visitor.url("/login"),
            data={
                "username": "admin",
                "password": "an-attackers-password",
                "_xsrf": visitor.form_xsrf("/login"),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert refused.status_code == 200  # the login form again, not a redirect
        assert "Invalid username or password" in refused.text
        HubClient(hub.public_url).login("admin", ADMIN_PASSWORD)  # unchanged
