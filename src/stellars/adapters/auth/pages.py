"""NativeAuthenticator's pages that check or hash a password, awaiting bcrypt off the event
loop (`StellarsNativeAuthenticator`); the login and sign-up pages ask the per-address limit
first and answer a refused attempt 429, on the page itself, with Retry-After.

Each keeps its NativeAuthenticator page's template, form fields and messages; NativeAuthenticator
1.3 called the authenticator's bcrypt work synchronously from these methods.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
from nativeauthenticator.handlers import (
    ChangePasswordAdminHandler,
    ChangePasswordHandler,
    LoginHandler,
    SignUpHandler,
    admin_users_scope,
)
from tornado import web

#: Too Many Requests.
TOO_MANY = 429
RECAPTCHA_VERIFY_URL = "https://www.google.com/recaptcha/api/siteverify"
RECAPTCHA_TIMEOUT_SECONDS = 10


def weak_password_message(least: int, whose: str) -> str:
    """NativeAuthenticator's answer to a password its rules refuse."""
    if least > 0:
        return (
            f"Something went wrong!\nBe sure {whose} has at least {least} characters and is "
            "not too common."
        )
    return f"Something went wrong!\nBe sure {whose} is not too common."


def _recaptcha_passed(secret: str, answer: str) -> bool:
    """Google's verdict on a reCAPTCHA answer (blocking: run off the loop)."""
    verdict = requests.post(
        RECAPTCHA_VERIFY_URL,
        data={"secret": secret, "response": answer},
        timeout=RECAPTCHA_TIMEOUT_SECONDS,
    )
    return bool(verdict.json().get("success"))


class LimitedLoginHandler(LoginHandler):
    """The login form's POST: limited per address, the password checked off the loop.

    NativeAuthenticator's own also timed logins with `BaseHandler.statsd`, which JupyterHub 6
    removed (jupyterhub#5407), so every login failed with a 500 there.
    """

    async def post(self) -> None:
        username = self.get_body_argument("username", default="", strip=False)
        admission = self.authenticator.admit_attempt(self.request)
        if not admission.allowed:
            self.set_status(TOO_MANY)
            self.set_header("Retry-After", str(admission.retry_after_seconds))
            self.finish(await self._render(login_error=admission.message, username=username))
            return
        data = {
            name: self.get_argument(name, strip=False)
            for name in self.request.arguments
            if name != "_xsrf"  # the form's token is no credential of the user's
        }
        user = await self.login_user(data)
        if user:
            self.authenticator.refund_attempt(admission)
            self._jupyterhub_user = user  # names the user in this request's log line
            self.redirect(self.get_next_url(user))
            return
        error = "Invalid username or password."
        if await self.authenticator.waits_for_authorization(username, data.get("password", "")):
            error = f"User {username} has not been authorized by an administrator yet."
        self.finish(await self._render(login_error=error, username=username))


class LimitedSignUpHandler(SignUpHandler):
    """The sign-up form's POST: limited per address, the password hashed off the loop."""

    def _page(self, **context: Any) -> Any:
        return self.render_template(
            "signup.html",
            ask_email=self.authenticator.ask_email_on_signup,
            two_factor_auth=self.authenticator.allow_2fa,
            recaptcha_key=self.authenticator.recaptcha_key,
            tos=self.authenticator.tos,
            **context,
        )

    async def _passes_recaptcha(self) -> bool:
        """Without reCAPTCHA configured everyone passes; with it, Google must say so."""
        if not self.authenticator.recaptcha_key:
            return True
        answer = self.get_body_argument("g-recaptcha-response", strip=True)
        if not answer:
            return False
        passed = await asyncio.to_thread(
            _recaptcha_passed, self.authenticator.recaptcha_secret, answer
        )
        if passed:
            self.authenticator.log.info("Passed reCaptcha")
        else:
            self.authenticator.log.error("Failed reCaptcha")
        return passed

    async def post(self) -> None:
        if not self.authenticator.enable_signup:
            raise web.HTTPError(404)
        admission = self.authenticator.admit_attempt(self.request)
        if not admission.allowed:
            self.set_status(TOO_MANY)
            self.set_header("Retry-After", str(admission.retry_after_seconds))
            self.finish(await self._page(result_message=admission.message, alert="alert-danger"))
            return
        human = await self._passes_recaptcha()
        details = {
            "username": self.get_body_argument("username", strip=False),
            "password": self.get_body_argument("signup_password", strip=False),
            "email": self.get_body_argument("email", "", strip=False),
            "has_2fa": bool(self.get_body_argument("2fa", "", strip=False)),
        }
        username = details["username"]
        confirmed = details["password"] == self.get_body_argument(
            "signup_password_confirmation", strip=False
        )
        taken = self.authenticator.user_exists(username)
        user = None
        if human and not taken and confirmed:
            user = await self.authenticator.create_user_off_loop(**details)
        alert, message = self.get_result_message(
            user, human, taken, confirmed, username in self.authenticator.admin_users
        )
        self.finish(
            await self._page(
                result_message=message,
                alert=alert,
                two_factor_auth_user=user.has_2fa if user else "",
                two_factor_auth_value=user.otp_secret if user else "",
            )
        )


class OffLoopChangePasswordHandler(ChangePasswordHandler):
    """A user changes their own password: the old one checked, the new one hashed, off the
    loop."""

    @web.authenticated
    async def post(self) -> None:
        name = self.current_user.name
        old = self.get_body_argument("old_password", strip=False)
        new = self.get_body_argument("new_password", strip=False)
        confirmation = self.get_body_argument("new_password_confirmation", strip=False)
        alert = "alert-danger"
        if not await self.authenticator.password_matches(name, old):
            message = "Your current password was incorrect. Please try again."
        elif new != confirmation:
            message = "Your new password didn't match the confirmation. Please try again."
        elif await self.authenticator.change_password_off_loop(name, new):
            alert, message = "alert-success", "Your password has been changed successfully!"
        else:
            message = weak_password_message(
                self.authenticator.minimum_password_length, "your new password"
            )
        html = await self.render_template(
            "change-password.html", user_name=name, result_message=message, alert=alert
        )
        self.finish(html)


class OffLoopChangePasswordAdminHandler(ChangePasswordAdminHandler):
    """An admin sets a user's password: hashed off the loop."""

    @admin_users_scope
    async def post(self, user_name: str) -> None:
        new = self.get_body_argument("new_password", strip=False)
        confirmation = self.get_body_argument("new_password_confirmation", strip=False)
        alert = "alert-danger"
        if new != confirmation:
            message = "The new password didn't match the confirmation. Please try again."
        elif await self.authenticator.change_password_off_loop(user_name, new):
            alert = "alert-success"
            message = f"The password for {user_name} has been changed successfully"
        else:
            message = weak_password_message(
                self.authenticator.minimum_password_length, f"the new password for {user_name}"
            )
        html = await self.render_template(
            "change-password-admin.html", user_name=user_name, result_message=message, alert=alert
        )
        self.finish(html)
