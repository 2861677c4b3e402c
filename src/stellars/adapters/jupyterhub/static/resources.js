// The home page's resources card: what the user's servers get from their groups' policies, each
// value with the group it comes from (GET /hub/api/users/{user}/resources).
(function () {
  "use strict";

  const card = document.getElementById("stellars-resources");
  if (!card) return;
  const { api, element, resourceRows } = window.stellars;

  async function load() {
    let got;
    try {
      got = await api("GET", "/users/" + encodeURIComponent(card.dataset.user) + "/resources");
    } catch (error) {
      return; // a token without the scope: no card
    }
    document.getElementById("stellars-resources-groups").textContent = got.groups.length
      ? "From your groups: " + got.groups.join(", ") + ". Changes apply at your next start."
      : "You are in no group: the platform's defaults apply.";
    document.querySelector("#stellars-resources-table tbody").replaceChildren(
      ...resourceRows(got).map(([what, value, from]) =>
        element(
          "tr",
          { "data-resource": what },
          element("th", { scope: "row", class: "fw-normal", text: what }),
          element("td", { class: "stellars-value", text: value }),
          element("td", { class: "text-body-secondary small", text: from }),
        ),
      ),
    );
    card.classList.remove("d-none");
  }

  load();
})();
