// The front's SIP accounts (admin): each line's registration state, refreshed every 20 s.

import {api} from "./api.js";
import {h, fill, showError} from "./dom.js";

const STATES = {
  registered: ["ok", "Enregistrée"],
  registering: ["warn", "Enregistrement en cours"],
  failed: ["danger", "Refusée ou sans réponse (nouvel essai toutes les 30 s)"],
  down: ["danger", "Non enregistrée"],
  disabled: ["warn", "Désactivée"],
  ip: ["ok", "Trunk IP (sans enregistrement)"],
  unknown: ["warn", "Inconnu : le frontal SIP ne tourne pas sur cette machine"],
};

/** A panel listing the SIP lines; returns a function that stops its refresh. */
export function trunksPanel(place) {
  const body = h("div");
  const errors = h("div");
  async function load() {
    showError(errors, null);
    let trunks;
    try {
      trunks = await api("/trunks");
    } catch (error) {
      showError(errors, error);
      return;
    }
    if (!trunks.length) {
      fill(body, h("p", {class: "muted"},
        "Aucune ligne configurée : ajoutez une section [[sip.trunks]] aux réglages (docs/deploy.md)."));
      return;
    }
    fill(body, h("table", {class: "grid"},
      h("thead", {}, h("tr", {}, ["Ligne", "Type", "Compte ou proxy", "Numéros", "État"]
        .map(t => h("th", {scope: "col"}, t)))),
      h("tbody", {}, trunks.map(t => {
        const [tone, label] = STATES[t.state] || ["warn", t.state];
        return h("tr", {dataset: {trunk: t.name}},
          h("td", {}, h("strong", {}, t.name)),
          h("td", {}, t.kind === "register" ? "Compte SIP" : "Trunk IP"),
          h("td", {}, t.where || "—"),
          h("td", {}, t.numbers.join(", ") || "—"),
          h("td", {}, h("span", {class: `badge ${tone}`, title: t.meaning}, label)));
      }))));
  }
  fill(place, h("section", {class: "panel trunks"}, h("h2", {}, "Lignes SIP"), errors, body));
  load();
  const timer = setInterval(() => {
    if (!place.isConnected) {
      clearInterval(timer);
      return;
    }
    load();
  }, 20000);
  return () => clearInterval(timer);
}
