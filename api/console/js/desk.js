// How a transfer rings the secretaries' softphones, per practice (admin): all at once, or
// one after another (a hunt) in an order of logins, so many seconds each.

import {api} from "./api.js";
import {h, fill, field, busy, toast, showError} from "./dom.js";

/** The API's refusal of a hunt, in French, for the admin. */
function refusal(error) {
  const said = error.detail || "";
  const nobody = said.match(/'([^']+)' is no secretary/);
  if (nobody) return `« ${nobody[1]} » n'est pas une secrétaire de ce cabinet.`;
  if (said.includes("needs the secretaries")) {
    return "Pour les faire sonner l'une après l'autre, donnez l'ordre des secrétaires (leurs identifiants).";
  }
  if (said.includes("hunt_seconds")) return "De 5 à 120 secondes de sonnerie pour chacune.";
  if (said.includes("each login once")) return "Chaque identifiant une seule fois dans l'ordre.";
  if (said.includes("not a staff login")) return "Un des identifiants n'en est pas un (exemple : alice, m.dupont).";
  return error.message;
}

function practiceForm(practice, secretaries) {
  const errors = h("div");
  const mode = h("select", {},
    h("option", {value: "ring_all"}, "Toutes en même temps"),
    h("option", {value: "hunt"}, "L'une après l'autre, dans l'ordre"));
  const order = h("input", {type: "text", autocomplete: "off", placeholder: "alice, bob"});
  const seconds = h("input", {type: "number", min: 5, max: 120, step: 1});
  const save = h("button", {type: "submit", class: "secondary"}, "Enregistrer");
  const orderField = field("Ordre (identifiants, séparés par des virgules)", order, " ");
  const form = h("form", {class: "desk-ring", "aria-label": `Sonnerie — ${practice.name}`},
    h("h3", {}, practice.name),
    field("Les secrétaires disponibles sonnent", mode),
    orderField,
    field("Secondes de sonnerie pour chacune", seconds),
    errors, save);
  // the list of the practice's secretaries follows the accounts table (added, disabled)
  form.showSecretaries = logins => {
    orderField.querySelector(".hint").textContent = logins.length
      ? `Secrétaires du cabinet : ${logins.join(", ")}. Celles en pause sont passées.`
      : "Aucune secrétaire n'est encore attribuée à ce cabinet.";
  };
  form.showSecretaries(secretaries);
  api(`/practices/${encodeURIComponent(practice.slug)}/profile`).then(profile => {
    mode.value = profile.desk_ring;
    order.value = profile.hunt_order.join(", ");
    seconds.value = String(profile.hunt_seconds);
  }, error => showError(errors, error));
  form.addEventListener("submit", event => {
    event.preventDefault();
    busy(save, async () => {
      showError(errors, null);
      const logins = order.value.split(",").map(l => l.trim()).filter(Boolean);
      try {
        await api(`/practices/${encodeURIComponent(practice.slug)}/profile`, {method: "PATCH",
          body: {desk_ring: mode.value, hunt_order: logins, hunt_seconds: Number(seconds.value)}});
        toast(`Sonnerie de ${practice.name} enregistrée.`, "info");
      } catch (error) {
        showError(errors, new Error(refusal(error)));
      }
    });
  });
  return form;
}

/** The panel: one form per practice; ``users`` gives each practice's secretaries. */
export function deskPanel(place, session, users) {
  const secretariesOf = practice => users.filter(u =>
    u.role === "secretary" && !u.disabled && u.practice_ids.includes(practice.id)).map(u => u.login);
  if (place.firstChild) {  // built already: keep what the admin is typing, refresh the lists
    place.querySelectorAll("form.desk-ring").forEach((form, index) =>
      form.showSecretaries(secretariesOf(session.practices[index])));
    return;
  }
  const forms = session.practices.map(practice => practiceForm(practice, secretariesOf(practice)));
  fill(place, h("section", {class: "panel desk"},
    h("h2", {}, "Sonnerie du secrétariat (téléphone de la console)"),
    h("p", {class: "muted small"},
      "Un appel transféré au secrétariat fait sonner les secrétaires disponibles : toutes à la fois, "
      + "ou l'une après l'autre dans l'ordre donné. Personne ne répond : l'appelant laisse un message."),
    ...forms));
}
