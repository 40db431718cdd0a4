// The audit trail (admin): is the chain intact, the latest events, the access review.

import {api} from "./api.js";
import {h, fill, field, busy, showError} from "./dom.js";
import * as fmt from "./format.js";

const PAGE = 50;

export function auditView(place, session) {
  const status = h("section", {class: "panel verify", "aria-live": "polite"});
  const events = h("div", {class: "table-wrap"});
  const review = h("div");
  const errors = h("div");
  const action = h("input", {placeholder: "ex. voicemail.play", pattern: "[a-z_.]+", autocomplete: "off"});
  const actor = h("input", {placeholder: "ex. staff:sam", autocomplete: "off"});
  let total = 0;

  async function verify(button) {
    const run = async () => {
      fill(status, h("p", {class: "muted"}, "Vérification de la chaîne…"));
      try {
        const result = await api("/audit/verify");
        total = result.events;
        fill(status,
          h("div", {class: `verdict ${result.intact ? "ok" : "bad"}`},
            h("span", {class: "verdict-mark", "aria-hidden": "true"}, result.intact ? "✓" : "!"),
            h("div", {},
              h("h2", {}, result.intact ? "Chaîne d'audit intègre" : "Anomalies dans la chaîne d'audit"),
              h("p", {}, `${result.events} événements · dernier point de contrôle signé : `,
                result.last_checkpoint_seq ?? "aucun"),
              h("p", {class: "muted small"}, "Chaque événement est chaîné au précédent ; toute modification ou suppression serait détectée."))),
          result.problems.length ? h("ul", {class: "problems"}, result.problems.map(p => h("li", {}, p))) : null,
          h("button", {type: "button", class: "secondary", onclick: e => verify(e.currentTarget)},
            "Vérifier à nouveau"));
      } catch (error) {
        showError(status, error);
      }
    };
    return button ? busy(button, run) : run();
  }

  async function loadEvents() {
    showError(errors, null);
    const filtered = action.value.trim() || actor.value.trim();
    let rows;
    try {
      rows = await api("/audit/events", {query: {
        action: action.value.trim(), actor: actor.value.trim(),
        after_seq: filtered ? 0 : Math.max(0, total - PAGE), limit: filtered ? 1000 : PAGE}});
    } catch (error) {
      showError(errors, error);
      return;
    }
    rows = rows.slice(-PAGE).reverse();
    if (!rows.length) {
      fill(events, h("p", {class: "empty"}, "Aucun événement."));
      return;
    }
    fill(events, h("table", {class: "grid compact"},
      h("thead", {}, h("tr", {}, ["N°", "Quand", "Qui", "Action", "Objet", "Finalité", "Patient"].map(
        t => h("th", {scope: "col"}, t)))),
      h("tbody", {}, rows.map(e => h("tr", {},
        h("td", {class: "num"}, e.seq), h("td", {}, fmt.dateTime(e.at)), h("td", {}, e.actor),
        h("td", {}, h("code", {}, e.action)),
        h("td", {}, `${e.object_type}${e.object_id ? " " + e.object_id.slice(0, 12) : ""}`),
        h("td", {}, e.purpose), h("td", {class: "num"}, e.patient_id ?? "—"))))));
  }

  async function accessReview(button) {
    const since = new Date(Date.now() - 30 * 86400 * 1000).toISOString();
    let report;
    try {
      report = await busy(button, () => api("/audit/report", {query: {since}}));
    } catch (error) {
      showError(review, error);
      return;
    }
    fill(review,
      h("p", {}, `${report.events} événements depuis le ${fmt.dateTime(report.since)}.`),
      report.flags.length ? h("div", {class: "notice warn"}, h("strong", {}, "À examiner"),
        h("ul", {}, report.flags.map(f => h("li", {}, `${fmt.dateTime(f.at)} · ${f.actor} · ${f.text}`))))
        : h("p", {class: "notice ok"}, "Aucun comportement inhabituel relevé."),
      h("table", {class: "grid compact"},
        h("thead", {}, h("tr", {}, ["Qui", "Lectures", "Modifications", "Patients"].map(t => h("th", {scope: "col"}, t)))),
        h("tbody", {}, report.actors.map(a => h("tr", {}, h("td", {}, a.actor),
          h("td", {class: "num"}, a.reads), h("td", {class: "num"}, a.changes),
          h("td", {class: "num"}, a.patients))))));
  }

  const filterForm = h("form", {class: "toolbar"},
    field("Action", action), field("Acteur", actor),
    h("button", {type: "submit", class: "secondary"}, "Filtrer"));
  filterForm.addEventListener("submit", event => { event.preventDefault(); loadEvents(); });
  const reviewButton = h("button", {type: "button", class: "secondary"}, "Revue des accès (30 jours)");
  reviewButton.addEventListener("click", () => accessReview(reviewButton));
  fill(place,
    h("div", {class: "view-head"}, h("h1", {}, "Audit")),
    status,
    h("section", {class: "panel"}, h("h2", {}, "Derniers événements"), filterForm, errors, events),
    h("section", {class: "panel"}, h("h2", {}, "Revue périodique des accès"),
      h("p", {class: "muted"}, "Qui a lu quoi, et les comportements inhabituels (la revue est elle-même tracée)."),
      reviewButton, review));
  verify().then(loadEvents);
}
