"""HubDirectory over JupyterHub's REST API, for processes outside the hub (managed services).

`list_users` walks every page (`client.HubApi.walk`): without the pagination media type the hub
silently returns at most `api_page_max_limit` users (200 by default).
"""

from __future__ import annotations

from urllib.parse import quote

from stellars.domain.hub import HubUser

from .client import DEFAULT_PAGE_SIZE, PAGINATION_MEDIA_TYPE, HubApi
from .models import user_from_model

__all__ = ["PAGINATION_MEDIA_TYPE", "SCOPES", "RestHubDirectory"]

#: The scopes a token needs here.
SCOPES = ("list:users", "read:users", "read:users:activity", "read:servers")


class RestHubDirectory(HubApi):
    """The HubDirectory port over the hub API.

    `api_url`: the hub API root, e.g. JUPYTERHUB_API_URL (`http://127.0.0.1:8081/hub/api`);
    `token`: an API token with `SCOPES`; `connect_timeout` / `request_timeout` in seconds;
    `page_size` users per page. Raises BackendUnavailable when the hub cannot be reached,
    refuses the token or errs.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        super().__init__(
            api_url,
            token,
            SCOPES,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            page_size=page_size,
        )

    async def list_users(self) -> list[HubUser]:
        """Every user of every page, with their running or pending servers, sorted by name."""
        return await self.walk("users", user_from_model, lambda user: user.name)

    async def get_user(self, name: str) -> HubUser | None:
        """One user with their running or pending servers, or None if the hub has none."""
        body = await self.get_json(f"users/{quote(name, safe='')}", missing_ok=True)
        return None if body is None else user_from_model(body)
