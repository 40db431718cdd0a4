// Staff accounts (admin): create, assign practices, disable, reset MFA, SIP phones; the SIP lines.

import {api} from "./api.js";
import {h, fill, field, busy, toast, showError} from "./dom.js";
import * as fmt from "./format.js";
import {modal, showEnrolment} from "./dialog.js";
import {trunksPanel} from "./trunks.js";
import {deskPanel} from "./desk.js";

function stateOf(user) {
  if (user.disabled) return h("span", {class: "badge danger"}, "Désactivé");
  if (user.locked_until && new Date(user.locked_until) > new Date()) {
    return h("span", {class: "badge warn"}, `Verrouillé jusqu'à ${fmt.time(user.locked_until)}`);
  }
  if (user.must_change_password) return h("span", {class: "badge warn"}, "Mot de passe provisoire");
  return h("span", {class: "badge ok"}, "Actif");
}

function practiceChecks(session, checked) {
  return h("fieldset", {class: "checks"}, h("legend", {}, "Cabinets"),
    session.practices.map(p => h("label", {class: "check"},
      h("input", {type: "checkbox", value: p.id, dataset: {slug: p.slug},
                  checked: checked.includes(p.id)}), p.name)));
}

export function usersView(place, session) {
  const table = h("div", {class: "table-wrap"});
  const errors = h("div");
  let users = [];

  async function load() {
    showError(errors, null);
    try {
      users = await api("/users");
    } catch (error) {
      showError(errors, error);
      return;
    }
    deskPanel(desk, session, users);
    fill(table, h("table", {class: "grid"},
      h("thead", {}, h("tr", {}, ["Identifiant", "Rôle", "Cabinets", "Double facteur", "État",
        "Téléphone SIP", "Dernière connexion", "Actions"].map(t => h("th", {scope: "col"}, t)))),
      h("tbody", {}, users.map(u => h("tr", {dataset: {login: u.login}},
        h("td", {}, h("strong", {}, u.login)),
        h("td", {}, fmt.roleLabel(u.role), u.shared_box ? h("span", {class: "muted small"}, " · boîte partagée") : null),
        h("td", {}, u.role === "admin" ? h("span", {class: "muted"}, "tous")
          : u.practice_ids.map(id => session.practiceById.get(id)?.name || `#${id}`).join(", ") || "—"),
        h("td", {}, u.mfa_enrolled ? "Activé" : h("span", {class: "badge warn"}, "À enrôler")),
        h("td", {}, stateOf(u)),
        h("td", {}, u.sip_phone ? "Configuré" : h("span", {class: "muted"}, "—")),
        h("td", {}, u.last_login_at ? fmt.dateTime(u.last_login_at) : "jamais"),
        h("td", {}, h("div", {class: "row-actions"}, actions(u))))))));
  }

  function actions(user) {
    const buttons = [];
    if (user.role !== "admin") {
      buttons.push(h("button", {type: "button", class: "ghost small", onclick: () => editAccess(user)},
        "Cabinets…"));
    }
    const reset = h("button", {type: "button", class: "ghost small"}, "Réinitialiser MFA");
    reset.addEventListener("click", () => {
      if (!window.confirm(`Réinitialiser le double facteur de ${user.login} ? Ses sessions seront fermées.`)) return;
      busy(reset, async () => {
        try {
          const enrolment = await api(`/users/${user.login}/reset-mfa`, {method: "POST"});
          showEnrolment(enrolment);
          load();
        } catch (error) {
          toast(error.message, "error");
        }
      });
    });
    buttons.push(reset);
    buttons.push(h("button", {type: "button", class: "ghost small", onclick: () => phoneDialog(user)},
      "Téléphone SIP…"));
    const toggle = h("button", {type: "button", class: user.disabled ? "ghost small" : "ghost small danger"},
      user.disabled ? "Réactiver" : "Désactiver");
    toggle.addEventListener("click", () => {
      if (!user.disabled && !window.confirm(`Désactiver ${user.login} ? Ses sessions seront fermées.`)) return;
      busy(toggle, async () => {
        try {
          await api(`/users/${user.login}/${user.disabled ? "enable" : "disable"}`, {method: "POST"});
          toast(user.disabled ? "Compte réactivé." : "Compte désactivé.", "ok");
          load();
        } catch (error) {
          toast(error.message, "error");
        }
      });
    });
    buttons.push(toggle);
    return buttons;
  }

  function phoneDialog(user) {
    const errors2 = h("div");
    const result = h("div");
    const create = h("button", {type: "button", class: "primary"},
      user.sip_phone ? "Nouveau mot de passe" : "Créer le mot de passe");
    const remove = h("button", {type: "button", class: "ghost danger", hidden: !user.sip_phone},
      "Retirer le téléphone");
    create.addEventListener("click", () => busy(create, async () => {
      showError(errors2, null);
      let phone;
      try {
        phone = await api(`/users/${user.login}/sip-password`, {method: "POST"});
      } catch (error) {
        showError(errors2, error);
        return;
      }
      create.hidden = true;
      remove.hidden = true;
      fill(result, h("div", {class: "enrolment"},
        h("p", {class: "notice warn"},
          "Affiché une seule fois : l'ancien mot de passe ne marche plus. À saisir dans le téléphone ou le logiciel SIP."),
        h("dl", {class: "phone-account"},
          h("dt", {}, "Compte SIP"), h("dd", {class: "secret"}, phone.address),
          h("dt", {}, "Utilisateur"), h("dd", {class: "secret"}, phone.login),
          h("dt", {}, "Mot de passe"), h("dd", {class: "secret", dataset: {role: "sip-password"}}, phone.password),
          h("dt", {}, "Domaine (realm)"), h("dd", {class: "secret"}, phone.realm),
          h("dt", {}, "Serveur d'enregistrement"), h("dd", {class: "secret"}, phone.registrar))));
      load();
    }));
    remove.addEventListener("click", () => {
      if (!window.confirm(`Retirer le téléphone SIP de ${user.login} ? Il ne sonnera plus.`)) return;
      busy(remove, async () => {
        try {
          await api(`/users/${user.login}/sip-password`, {method: "DELETE"});
        } catch (error) {
          showError(errors2, error);
          return;
        }
        dialog.close();
        toast("Téléphone retiré : il cesse de sonner d'ici une minute.", "ok");
        load();
      });
    });
    const dialog = modal(`Téléphone SIP de ${user.login}`, h("div", {},
      h("p", {class: "muted small"},
        "Le téléphone s'enregistre auprès de Telesec avec ces identifiants ; les transferts vers ce compte le font sonner où qu'il soit."),
      errors2, result, h("div", {class: "form-end"}, remove, create)));
  }

  function editAccess(user) {
    const checks = practiceChecks(session, user.practice_ids);
    const shared = h("input", {type: "checkbox", checked: user.shared_box});
    const errors2 = h("div");
    const save = h("button", {type: "submit", class: "primary"}, "Enregistrer");
    const form = h("form", {},
      checks,
      user.role === "doctor" ? h("label", {class: "check"}, shared, "Accès à la boîte partagée du cabinet") : null,
      errors2, save);
    const dialog = modal(`Accès de ${user.login}`, form, {closeLabel: "Annuler"});
    form.addEventListener("submit", async event => {
      event.preventDefault();
      const ids = [...checks.querySelectorAll("input:checked")].map(i => Number(i.value));
      const body = {practice_ids: ids};
      if (user.role === "doctor") body.shared_box = shared.checked;
      try {
        await busy(save, () => api(`/users/${user.login}`, {method: "PATCH", body}));
      } catch (error) {
        showError(errors2, error);
        return;
      }
      dialog.close();
      toast("Accès mis à jour.", "ok");
      load();
    });
  }

  function addForm() {
    const login = h("input", {required: true, pattern: "[a-z][a-z0-9._\\-]{1,63}", autocomplete: "off",
                              autocapitalize: "none", spellcheck: "false"});
    const role = h("select", {},
      ["secretary", "doctor", "admin"].map(r => h("option", {value: r}, fmt.roleLabel(r))));
    const checks = practiceChecks(session, []);
    const practitioner = h("select", {}, h("option", {value: ""}, "—"));
    const shared = h("input", {type: "checkbox"});
    const doctorFields = h("div", {class: "inline-fields", hidden: true},
      field("Praticien (agenda et boîte personnelle)", practitioner),
      h("label", {class: "check"}, shared, "Accès à la boîte partagée"));
    const errors2 = h("div");
    const create = h("button", {type: "submit", class: "primary"}, "Créer le compte");
    async function refreshPractitioners() {
      doctorFields.hidden = role.value !== "doctor";
      checks.hidden = role.value === "admin";
      if (role.value !== "doctor") return;
      const slugs = [...checks.querySelectorAll("input:checked")].map(i => i.dataset.slug);
      const details = await Promise.all(slugs.map(s => session.practiceDetail(s)));
      fill(practitioner, h("option", {value: ""}, "—"),
        details.flatMap(d => d.practitioners.map(p => h("option", {value: p.slug}, `${p.name} (${d.name})`))));
    }
    role.addEventListener("change", refreshPractitioners);
    checks.addEventListener("change", refreshPractitioners);
    const form = h("form", {class: "sub-form"},
      h("div", {class: "inline-fields"},
        field("Identifiant", login, "minuscules, ex. : m.dupont"), field("Rôle", role)),
      checks, doctorFields, errors2, h("div", {class: "form-end"}, create));
    form.addEventListener("submit", async event => {
      event.preventDefault();
      showError(errors2, null);
      const body = {login: login.value.trim(), role: role.value,
        practices: role.value === "admin" ? []
          : [...checks.querySelectorAll("input:checked")].map(i => i.dataset.slug)};
      if (role.value === "doctor") {
        body.practitioner = practitioner.value || null;
        body.shared_box = shared.checked;
      }
      let enrolment;
      try {
        enrolment = await busy(create, () => api("/users", {method: "POST", body}));
      } catch (error) {
        showError(errors2, error);
        return;
      }
      form.reset();
      refreshPractitioners();
      showEnrolment(enrolment);
      load();
    });
    return h("details", {class: "panel add-user"},
      h("summary", {}, "Ajouter un utilisateur"), form);
  }

  const lines = h("div");
  const desk = h("div");
  fill(place, h("div", {class: "view-head"}, h("h1", {}, "Utilisateurs")),
    addForm(), errors, table, lines, desk);
  load();
  trunksPanel(lines);
}
