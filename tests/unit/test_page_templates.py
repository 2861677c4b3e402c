"""The platform's pages render with Jinja alone, and each confirmation dialog that the `dialog`
macro of `stellars-macros.html` writes carries the ids, title, buttons and status alert its script
and the browser tests look for.

The environment mirrors the hub's: autoescape on, JupyterHub's own templates under the
`templates/` prefix (stubbed here: only their blocks matter), ours by name. StrictUndefined makes
a variable missing from a call fail here instead of rendering as nothing. A broken macro call
fails in this file, without a hub or a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from jinja2 import (
    ChoiceLoader,
    DictLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
)

from stellars.adapters.jupyterhub import TEMPLATES_DIR

# JupyterHub's templates as far as ours see them: the blocks they fill, and how admin.html and
# home.html extend "page.html" (ours, which extends JupyterHub's).
STOCK_TEMPLATES = {
    "page.html": (
        "<!DOCTYPE html><html><head><title>{% block title %}JupyterHub{% endblock title %}"
        "</title>{% block stylesheet %}{% endblock stylesheet %}"
        "{% block favicon %}{% endblock favicon %}</head><body>"
        "<nav>{% block logo %}{% endblock logo %}<ul>{% block nav_bar_left_items %}"
        "{% endblock nav_bar_left_items %}</ul></nav>"
        "{% block main %}{% endblock main %}{% block script %}{% endblock script %}"
        "</body></html>"
    ),
    "admin.html": (
        '{% extends "page.html" %}{% block main %}<div id="react-admin-hook"></div>'
        "{% endblock main %}"
    ),
    "home.html": (
        '{% extends "page.html" %}{% block main %}<div id="stock-home"></div>{% endblock main %}'
    ),
}

# What every page of the hub gets (JupyterHub's template namespace), as far as ours use it.
HUB_NAMESPACE = {
    "base_url": "/hub/",
    "logo_url": "",
    "parsed_scopes": {"admin-ui"},
    "stellars_favicon_url": None,
    "stellars_logo_url": None,
}

ACTIVITY_PAGE = {
    "target_hours": 4,
    "samples_per_day": 288,
    "sample_interval_seconds": 300,
    "retention_days": 90,
    "refresh_seconds": 30,
    "host_disk": {
        "path": "/var/lib/docker",
        "state": "low",
        "text": "38 GiB free of 400 GiB (9.5 %): low, under 10 % free",
    },
}


def environment() -> Environment:
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": DictLoader(STOCK_TEMPLATES)}, "/"),
            FileSystemLoader([TEMPLATES_DIR]),
        ]
    )
    return Environment(loader=loader, autoescape=True, undefined=StrictUndefined)


def render(template: str, **values: object) -> str:
    return environment().get_template(template).render(**HUB_NAMESPACE, **values)


def home_page(*, server_active: bool) -> str:
    return render(
        "home.html",
        user=SimpleNamespace(name="ada"),
        default_server=SimpleNamespace(active=server_active),
    )


# --- a small element tree of the rendered page (the standard library's HTML parser) ------------

VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Element:
    tag: str
    attributes: dict[str, str | None]
    content: list[str | Element] = field(default_factory=list)  # text and elements, in order

    @property
    def children(self) -> list[Element]:
        return [part for part in self.content if isinstance(part, Element)]

    @property
    def classes(self) -> set[str]:
        return set((self.attributes.get("class") or "").split())

    @property
    def text(self) -> str:
        """The text inside, whitespace collapsed as a browser shows it."""
        parts = [part if isinstance(part, str) else part.text for part in self.content]
        return " ".join(" ".join(parts).split())

    def walk(self) -> list[Element]:
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def find(self, **attributes: str) -> list[Element]:
        return [
            node
            for node in self.walk()
            if all(node.attributes.get(name) == value for name, value in attributes.items())
        ]

    def one(self, **attributes: str) -> Element:
        found = self.find(**attributes)
        assert len(found) == 1, f"{len(found)} elements with {attributes}"
        return found[0]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("document", {})
        self.open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Element(tag, dict(attrs))
        self.open[-1].content.append(node)
        if tag not in VOID_TAGS:
            self.open.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].content.append(Element(tag, dict(attrs)))  # <link ... />: nothing inside

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1].tag == tag, f"</{tag}> closes <{self.open[-1].tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.open[-1].content.append(data)


def parse(html: str) -> Element:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.open == [builder.root], "unclosed: " + ", ".join(e.tag for e in builder.open[1:])
    return builder.root


# --- the dialogs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialog:
    """One confirmation dialog as its script and the browser tests expect it."""

    prefix: str
    title: str
    confirm_label: str
    confirm_class: str
    holds: str  # an element or text of the body the page passes in
    size: str = ""
    dismiss_label: str = "Cancel"
    confirm_disabled: bool = False
    status: bool = True


ACTIVITY_DIALOGS = [
    Dialog(
        "activity-reset",
        "Reset all activity data?",
        "Reset",
        "btn-danger",
        holds="This cannot be undone.",
        status=False,
    )
]
ADMIN_DIALOGS = [
    Dialog(
        "stellars-admin-reset",
        "Reset volumes",
        "Reset selected",
        "btn-danger",
        holds="#stellars-admin-reset-list",
        dismiss_label="Close",
        confirm_disabled=True,
    ),
    Dialog(
        "stellars-orphans",
        "Delete orphaned volumes?",
        "Delete",
        "btn-danger",
        holds="#stellars-orphans-question",
        status=False,
    ),
]
HOME_DIALOGS = [
    Dialog(
        "stellars-restart",
        "Restart your server?",
        "Restart",
        "btn-warning",
        holds="This page reloads once JupyterLab answers again.",
    ),
    Dialog(
        "stellars-volumes",
        "Reset volumes",
        "Reset selected",
        "btn-danger",
        holds="#stellars-volumes-list",
        size="lg",
        dismiss_label="Close",
        confirm_disabled=True,
    ),
]

POLICIES_DIALOGS = [
    Dialog("stellars-policy", "Policy", "Save", "btn-primary", holds="#policy-form", size="lg"),
    Dialog(
        "stellars-policy-delete",
        "Delete this policy?",
        "Delete",
        "btn-danger",
        holds="#stellars-policy-delete-question",
        status=False,
    ),
]

PAGES = {
    "activity": (lambda: render("stellars-activity.html", **ACTIVITY_PAGE), ACTIVITY_DIALOGS),
    "policies": (lambda: render("stellars-policies.html"), POLICIES_DIALOGS),
    "admin": (lambda: render("admin.html"), ADMIN_DIALOGS),
    "home, server running": (lambda: home_page(server_active=True), HOME_DIALOGS),
    "home, server stopped": (lambda: home_page(server_active=False), HOME_DIALOGS),
}
CASES = [
    pytest.param(page, dialog, id=f"{page}: {dialog.prefix}")
    for page, (_, dialogs) in PAGES.items()
    for dialog in dialogs
]


def check_dialog(page: Element, expected: Dialog) -> None:
    dialog = page.one(id=f"{expected.prefix}-dialog")
    assert {"modal", "fade"} <= dialog.classes
    assert dialog.attributes["tabindex"] == "-1"
    assert dialog.attributes["aria-hidden"] == "true"
    assert dialog.attributes["aria-labelledby"] == f"{expected.prefix}-title"
    frame = next(node for node in dialog.walk() if "modal-dialog" in node.classes)
    sizes = {name for name in frame.classes if name.startswith("modal-") and name != "modal-dialog"}
    assert sizes == ({f"modal-{expected.size}"} if expected.size else set())

    title = dialog.one(id=f"{expected.prefix}-title")
    assert "modal-title" in title.classes
    assert title.text == expected.title
    close = [node for node in dialog.walk() if "btn-close" in node.classes]
    assert len(close) == 1
    assert close[0].attributes == {
        "type": "button",
        "class": "btn-close",
        "data-bs-dismiss": "modal",
        "aria-label": "Close",
    }

    body = next(node for node in dialog.walk() if "modal-body" in node.classes)
    if expected.holds.startswith("#"):
        body.one(id=expected.holds[1:])
    else:
        assert expected.holds in body.text
    messages = body.find(id=f"{expected.prefix}-message")
    if expected.status:
        assert len(messages) == 1
        assert messages[0].attributes["role"] == "status"
        assert {"alert", "d-none"} <= messages[0].classes  # hidden until the script says something
    else:
        assert messages == []

    footer = next(node for node in dialog.walk() if "modal-footer" in node.classes)
    buttons = [node for node in footer.walk() if node.tag == "button"]
    assert [button.text for button in buttons] == [expected.dismiss_label, expected.confirm_label]
    dismiss, confirm = buttons
    assert dismiss.attributes["data-bs-dismiss"] == "modal"
    assert confirm.attributes["id"] == f"{expected.prefix}-confirm"
    assert confirm.attributes["type"] == "button"
    assert confirm.classes == {"btn", expected.confirm_class}
    assert ("disabled" in confirm.attributes) is expected.confirm_disabled


@pytest.mark.parametrize(("page_name", "expected"), CASES)
def test_each_confirmation_dialog_has_its_ids_title_and_buttons(page_name, expected):
    make, _ = PAGES[page_name]
    check_dialog(parse(make()), expected)


@pytest.mark.parametrize("page_name", list(PAGES))
def test_a_page_holds_exactly_its_dialogs_and_no_id_twice(page_name):
    make, dialogs = PAGES[page_name]
    page = parse(make())
    modals = {node.attributes["id"] for node in page.walk() if "modal" in node.classes}
    expected = {f"{dialog.prefix}-dialog" for dialog in dialogs}
    if page_name == "admin":
        expected.add("stellars-credentials-dialog")  # its own shape: copy, download, done
    assert modals == expected
    ids = [node.attributes["id"] for node in page.walk() if node.attributes.get("id")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_the_dialog_macro_escapes_what_it_is_given():
    template = environment().from_string(
        '{% import "stellars-macros.html" as ui %}'
        '{% call ui.dialog("x", title, label, "btn-danger") %}'
        '<p id="body">{{ body }}</p>'
        "{% endcall %}"
    )
    page = parse(
        template.render(
            title="<b>Ada</b> & co", label="<i>Go</i>", body="<script>alert(1)</script>"
        )
    )
    assert page.one(id="x-title").text == "<b>Ada</b> & co"
    assert page.one(id="x-confirm").text == "<i>Go</i>"
    assert page.one(id="body").text == "<script>alert(1)</script>"
    assert not [node for node in page.walk() if node.tag in {"b", "i", "script"}]


def test_the_policies_link_shows_only_to_holders_of_the_policies_scope():
    def links(scopes: set[str]) -> list[str]:
        page = parse(
            environment()
            .get_template("stellars-policies.html")
            .render(**{**HUB_NAMESPACE, "parsed_scopes": scopes})
        )
        return [node.attributes.get("href") or "" for node in page.walk() if node.tag == "a"]

    assert "/hub/policies" in links({"admin-ui", "custom:stellars:policies"})
    assert "/hub/policies" not in links({"admin-ui"})
    assert "/hub/policies" not in links({"custom:stellars:policies"})


def test_the_home_page_has_the_resources_card_for_its_user():
    page = parse(home_page(server_active=False))
    card = page.one(id="stellars-resources")
    assert card.attributes["data-user"] == "ada"
    assert "d-none" in card.classes  # shown by its script once the API answered
    scripts = [node.attributes.get("src") for node in page.walk() if node.tag == "script"]
    assert "/hub/stellars/static/resources.js" in scripts


# --- the host's free disk ----------------------------------------------------------------------


def settings_page(host_disk: dict[str, object]) -> str:
    return render(
        "stellars-settings.html",
        categories=[],
        facts=[("User servers", "docker")],
        volumes={},
        host_disk=host_disk,
    )


@pytest.mark.parametrize(
    ("page", "line_id"),
    [
        (
            lambda disk: render("stellars-activity.html", **{**ACTIVITY_PAGE, "host_disk": disk}),
            "activity-disk",
        ),
        (settings_page, "stellars-settings-disk"),
    ],
    ids=["activity", "settings"],
)
@pytest.mark.parametrize("state", ["ok", "low", "unknown"])
def test_the_admin_pages_show_the_host_disk_line_in_its_state(page, line_id, state):
    disk = {"path": "/var/lib/docker", "state": state, "text": f"words for {state}"}
    line = parse(page(disk)).one(id=line_id)
    assert line.attributes["data-state"] == state  # the look follows it (stellars.css)
    assert "stellars-disk" in line.classes
    assert line.attributes["role"] == "status"
    assert line.text == f"Host disk /var/lib/docker : words for {state}"


def test_the_host_disk_line_escapes_what_it_is_given_and_leaves_out_an_unknown_path():
    disk = {"path": None, "state": "unknown", "text": "unknown: <b>engine</b> & co"}
    html = settings_page(disk)
    assert "<b>engine</b>" not in html
    line = parse(html).one(id="stellars-settings-disk")
    assert line.text == "Host disk : unknown: <b>engine</b> & co"


def test_a_low_disk_looks_like_a_warning_and_an_unknown_one_greyed():
    css = (Path(TEMPLATES_DIR).parent / "static" / "stellars.css").read_text()
    low = css.split('.stellars-disk[data-state="low"] {', 1)[1].split("}", 1)[0]
    assert "background-color: var(--bs-warning-bg-subtle);" in low
    assert "color: var(--bs-warning-text-emphasis);" in low
    unknown = css.split('.stellars-disk[data-state="unknown"] {', 1)[1].split("}", 1)[0]
    assert "color: var(--bs-secondary-color);" in unknown


def test_the_resources_card_has_a_hidden_storage_line_for_its_script():
    page = parse(home_page(server_active=False))
    storage = page.one(id="stellars-storage")
    assert "d-none" in storage.classes  # shown once /storage answered
    progress = page.one(id="stellars-storage-progress")
    assert progress.attributes["role"] == "progressbar"
    assert progress.attributes["aria-valuemax"] == "100"
    assert page.one(id="stellars-storage-note").attributes["role"] == "status"
