// Practitioners' own calendars (admin): link a CalDAV calendar or an ICS address, unlink,
// sync now, the practice's settings. The address and password are sent once and never
// shown again (the API keeps them sealed). Also the warnings other screens show.

import {api} from "./api.js";
import {h, fill, field, busy, toast, showError} from "./dom.js";
import * as fmt from "./format.js";
import {modal} from "./dialog.js";

const STATES = {
  unlinked: ["Aucun calendrier", "tag"],
  pending: ["En attente de synchronisation", "badge warn"],
  ok: ["Synchronisé", "badge ok"],
  failing: ["Erreur de synchronisation", "badge danger"],
  stale: ["Pas synchronisé récemment", "badge warn"],
};

export const IDENTITY_WARNING =
  "Les noms et numéros de téléphone des patients sont envoyés dans les calendriers des praticiens : " +
  "ces données quittent le chiffrement de Telesec et peuvent être hébergées par un prestataire non certifié HDS.";

/** One line per calendar that does not answer: slots then use the last imported state. */
export function calendarWarnings(statuses, zone) {
  return statuses.filter(s => s.linked && (s.state === "failing" || s.state === "stale"))
    .map(s => h("p", {class: "notice warn calendar-warning", role: "status"},
      `Calendrier de ${s.practitioner_name} : ${s.state === "failing" ? "la dernière synchronisation a échoué" : "pas de synchronisation récente"}` +
      (s.last_error ? ` (${s.last_error})` : "") +
      ` — les créneaux tiennent compte des indisponibilités importées ${s.last_success_at ? "le " + fmt.dateTime(s.last_success_at, zone) : "(aucune encore)"}.`));
}

export function calendarsView(place, session) {
  let practice = session.practices[0];
  if (!practice) {
    fill(place, h("h1", {}, "Calendriers"), h("p", {class: "muted"}, "Aucun cabinet."));
    return;
  }
  const errors = h("div");
  const warnings = h("div");
  const settingsBox = h("div", {class: "panel"});
  const table = h("div", {class: "table-wrap"});
  let timer = null;

  async function load() {
    showError(errors, null);
    let data;
    try {
      data = await api(`/practices/${practice.slug}/calendars`);
    } catch (error) {
      showError(errors, error);
      return;
    }
    fill(warnings,
      data.settings.publish_patient_identity ? h("p", {class: "notice warn", role: "alert"}, IDENTITY_WARNING) : null,
      calendarWarnings(data.practitioners, practice.timezone));
    drawSettings(data.settings);
    fill(table, h("table", {class: "grid"},
      h("thead", {}, h("tr", {}, ["Praticien", "Calendrier", "État", "Dernière synchronisation",
        "Importé", "Publication", "Actions"].map(t => h("th", {scope: "col"}, t)))),
      h("tbody", {}, data.practitioners.map(s => row(s)))));
    const waiting = data.practitioners.some(s => s.sync_requested || s.state === "pending");
    clearTimeout(timer);
    if (waiting) timer = setTimeout(load, 2000);  // the engine's job picks it up within seconds
  }

  function row(s) {
    const [label, klass] = STATES[s.state] || [s.state, "tag"];
    return h("tr", {dataset: {practitioner: s.practitioner_slug}},
      h("td", {}, h("strong", {}, s.practitioner_name)),
      h("td", {}, s.linked ? `${s.kind === "caldav" ? "CalDAV (deux sens)" : "ICS (lecture seule)"} · ${s.server}` : "—"),
      h("td", {}, h("span", {class: klass}, label),
        s.sync_requested ? h("span", {class: "muted small"}, " · demandée") : null,
        s.last_error ? h("div", {class: "small error-line"}, s.last_error) : null),
      h("td", {}, s.last_success_at ? fmt.dateTime(s.last_success_at, practice.timezone) : (s.linked ? "jamais" : "—"),
        s.last_changes ? h("div", {class: "muted small"}, s.last_changes) : null),
      h("td", {class: "num"}, s.linked ? `${s.events} événements, ${s.busy_periods} indisponibilités` : "—"),
      h("td", {class: "num"}, s.kind === "caldav" ? `${s.published} publiés, ${s.waiting_to_publish} en attente` : "—",
        s.conflicts ? h("div", {}, h("span", {class: "badge danger"}, `${s.conflicts} conflit(s)`)) : null),
      h("td", {}, h("div", {class: "row-actions"}, actions(s))));
  }

  function actions(s) {
    const linkButton = h("button", {type: "button", class: "ghost small",
                                    onclick: () => linkForm(s)}, s.linked ? "Remplacer…" : "Lier un calendrier…");
    if (!s.linked) return [linkButton];
    const syncButton = h("button", {type: "button", class: "ghost small"}, "Synchroniser maintenant");
    syncButton.addEventListener("click", () => busy(syncButton, async () => {
      try {
        await api(`/practices/${practice.slug}/calendars/sync`, {method: "POST",
                                                                  query: {practitioner_id: s.practitioner_id}});
        toast("Synchronisation demandée.", "ok");
        load();
      } catch (error) {
        toast(error.message, "error");
      }
    }));
    const unlinkButton = h("button", {type: "button", class: "ghost small danger"}, "Délier");
    unlinkButton.addEventListener("click", () => {
      if (!window.confirm(`Délier le calendrier de ${s.practitioner_name} ? Ses indisponibilités ne seront plus prises en compte ; les rendez-vous déjà publiés restent dans son calendrier.`)) return;
      busy(unlinkButton, async () => {
        try {
          await api(`/practices/${practice.slug}/practitioners/${s.practitioner_id}/calendar`, {method: "DELETE"});
          toast("Calendrier délié.", "ok");
          load();
        } catch (error) {
          toast(error.message, "error");
        }
      });
    });
    return [syncButton, linkButton, unlinkButton];
  }

  function linkForm(s) {
    const kind = h("select", {}, h("option", {value: "caldav"}, "CalDAV (Nextcloud, Radicale, Apple, Google…) : deux sens"),
      h("option", {value: "ics"}, "Adresse ICS : lecture seule"));
    const url = h("input", {type: "url", required: true, autocomplete: "off", spellcheck: "false",
                            placeholder: "…/calendars/utilisateur/personnel/"});
    const username = h("input", {autocomplete: "off", autocapitalize: "none", spellcheck: "false"});
    const password = h("input", {type: "password", autocomplete: "new-password"});
    const owner = h("input", {type: "email", autocomplete: "off", multiple: true});
    const errors2 = h("div");
    const save = h("button", {type: "submit", class: "primary"}, "Lier");
    const form = h("form", {},
      field("Type", kind),
      field("Adresse du calendrier", url, "L'adresse de la collection CalDAV, ou d'un fichier .ics. Elle est chiffrée et ne sera plus affichée."),
      h("div", {class: "inline-fields"},
        field("Identifiant", username),
        field("Mot de passe", password, "Pour Apple et Google : un mot de passe d'application.")),
      field("Adresse e-mail du praticien dans son calendrier (facultatif)", owner,
        "Permet de reconnaître les invitations refusées ou sans réponse."),
      errors2, save);
    const dialog = modal(`Calendrier de ${s.practitioner_name}`, form, {closeLabel: "Annuler"});
    form.addEventListener("submit", async event => {
      event.preventDefault();
      const body = {kind: kind.value, url: url.value.trim()};
      if (username.value.trim()) body.username = username.value.trim();
      if (password.value) body.password = password.value;
      if (owner.value.trim()) body.owner_address = owner.value.trim();
      try {
        await busy(save, () => api(`/practices/${practice.slug}/practitioners/${s.practitioner_id}/calendar`,
                                   {method: "PUT", body}));
      } catch (error) {
        showError(errors2, error);
        return;
      }
      password.value = "";
      dialog.close();
      toast("Calendrier lié : première synchronisation en cours.", "ok");
      load();
    });
  }

  function drawSettings(settings) {
    const tentative = h("input", {type: "checkbox", checked: settings.tentative_blocks});
    const declined = h("input", {type: "checkbox", checked: settings.declined_blocks});
    const identity = h("input", {type: "checkbox", checked: settings.publish_patient_identity});
    const change = async (body, input) => {
      try {
        await api(`/practices/${practice.slug}/calendar-settings`, {method: "PUT", body});
        toast("Réglage enregistré (tracé dans l'audit).", "ok");
      } catch (error) {
        input.checked = !input.checked;
        toast(error.message, "error");
      }
      load();
    };
    tentative.addEventListener("change", () => change({tentative_blocks: tentative.checked}, tentative));
    declined.addEventListener("change", () => change({declined_blocks: declined.checked}, declined));
    identity.addEventListener("change", () => {
      if (identity.checked && !window.confirm(`${IDENTITY_WARNING}\n\nActiver quand même ?`)) {
        identity.checked = false;
        return;
      }
      change({publish_patient_identity: identity.checked}, identity);
    });
    fill(settingsBox, h("h2", {}, "Réglages du cabinet"),
      h("label", {class: "check"}, tentative, "Les événements provisoires (et invitations sans réponse) bloquent les créneaux"),
      h("label", {class: "check"}, declined, "Les invitations refusées bloquent les créneaux"),
      h("div", {}, h("label", {class: "check"}, identity, "Publier le nom et le numéro du patient dans les calendriers")),
      h("p", {class: "muted small"},
        "Par défaut, un rendez-vous publié indique seulement « Rendez-vous (téléphone) » et le motif : le calendrier du praticien est hors du chiffrement de Telesec."));
  }

  let picker = null;
  if (session.practices.length > 1) {
    const select = h("select", {}, session.practices.map(p => h("option", {value: p.id}, p.name)));
    select.addEventListener("change", () => {
      practice = session.practiceById.get(Number(select.value));
      load();
    });
    picker = field("Cabinet", select);
  }
  fill(place, h("div", {class: "view-head"}, h("h1", {}, "Calendriers des praticiens")),
    h("p", {class: "muted"},
      "Les indisponibilités des calendriers personnels bloquent les créneaux proposés au téléphone ; " +
      "avec CalDAV, chaque rendez-vous pris, déplacé ou annulé y est reporté."),
    picker ? h("div", {class: "toolbar"}, picker) : null,
    errors, warnings, settingsBox, table);
  load();
  return () => clearTimeout(timer);
}
