// Retention (admin): how long each kind of encrypted object is kept.

import {api} from "./api.js";
import {h, fill, showError} from "./dom.js";

export function retentionView(place) {
  const body = h("div", {class: "cards"});
  fill(place, h("div", {class: "view-head"}, h("h1", {}, "Conservation des données")),
    h("p", {class: "muted"},
      "Durées appliquées par la purge automatique. À l'échéance, la clé de chaque objet chiffré est détruite : le contenu devient illisible, y compris dans les sauvegardes."),
    body,
    h("p", {class: "muted small"},
      "Ces durées se règlent dans le fichier de configuration (section « retention ») ; les enregistrements ne sont jamais gardés plus de 6 mois."));
  api("/retention").then(policy => {
    const card = (title, days, text) => h("div", {class: "stat"},
      h("span", {class: "stat-value"}, `${days} j`), h("span", {class: "stat-title"}, title),
      h("span", {class: "muted small"}, text));
    fill(body,
      card("Enregistrements d'appels", policy.recording_days, `plafond : ${policy.recording_cap_days} jours`),
      card("Messages vocaux", policy.voicemail_days_after_handled, "après traitement du message"),
      card("Transcriptions", policy.transcript_days, "après l'appel"),
      card("Exports RGPD", policy.export_days, "après leur création"));
  }, error => showError(body, error));
}
