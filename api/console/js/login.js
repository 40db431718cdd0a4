// Logging in (password + TOTP code, or a recovery code) and the first password change.

import {api} from "./api.js";
import {h, fill, field, showError, busy} from "./dom.js";

export function showLogin(main, {message, onDone}) {
  document.getElementById("topbar").hidden = true;
  document.title = "Connexion — Telesec";
  const login = h("input", {name: "login", autocomplete: "username", required: true,
                            autocapitalize: "none", spellcheck: "false"});
  const password = h("input", {name: "password", type: "password", required: true,
                               autocomplete: "current-password"});
  const code = h("input", {name: "totp", inputmode: "numeric", autocomplete: "one-time-code",
                           pattern: "\\s*\\d{3}\\s?\\d{3}\\s*", maxlength: "7", required: true,
                           placeholder: "123 456"});
  const recovery = h("input", {name: "recovery", autocomplete: "off", spellcheck: "false",
                               minlength: "8", maxlength: "40"});
  const codeField = field("Code de l'application d'authentification", code,
                          "Six chiffres, renouvelés toutes les 30 secondes.");
  const recoveryField = field("Code de secours", recovery,
                              "Chaque code de secours ne sert qu'une fois.");
  recoveryField.hidden = true;
  let useRecovery = false;
  const toggle = h("button", {type: "button", class: "link"}, "Utiliser un code de secours");
  toggle.addEventListener("click", () => {
    useRecovery = !useRecovery;
    codeField.hidden = useRecovery;
    recoveryField.hidden = !useRecovery;
    code.required = !useRecovery;
    recovery.required = useRecovery;
    toggle.textContent = useRecovery ? "Utiliser le code de l'application"
      : "Utiliser un code de secours";
    (useRecovery ? recovery : code).focus();
  });
  const errors = h("div", {class: "form-errors"});
  const submit = h("button", {type: "submit", class: "primary wide"}, "Se connecter");
  const form = h("form", {class: "login-card", novalidate: false},
    h("div", {class: "login-brand"}, h("span", {class: "brand-mark", "aria-hidden": "true"}),
      "Telesec"),
    h("h1", {}, "Connexion"),
    h("p", {class: "muted"}, "Console du secrétariat médical"),
    message ? h("p", {class: "notice", role: "status"}, message) : null,
    field("Identifiant", login), field("Mot de passe", password),
    codeField, recoveryField, toggle, errors, submit);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    showError(errors, null);
    const body = {login: login.value.trim().toLowerCase(), password: password.value};
    if (useRecovery) body.recovery_code = recovery.value.trim();
    else body.totp_code = code.value.trim();
    try {
      await busy(submit, () => api("/auth/login", {method: "POST", body}));
    } catch (error) {
      showError(errors, error);
      code.value = "";
      recovery.value = "";
      (useRecovery ? recovery : code).focus();
      return;
    }
    password.value = "";
    onDone();
  });
  fill(main, h("div", {class: "login-page"}, form));
  login.focus();
}

export function showPasswordChange(main, {me, onDone}) {
  document.getElementById("topbar").hidden = true;
  document.title = "Nouveau mot de passe — Telesec";
  const current = h("input", {type: "password", autocomplete: "current-password", required: true});
  const fresh = h("input", {type: "password", autocomplete: "new-password", required: true,
                            minlength: "12"});
  const again = h("input", {type: "password", autocomplete: "new-password", required: true,
                            minlength: "12"});
  const errors = h("div", {class: "form-errors"});
  const submit = h("button", {type: "submit", class: "primary wide"}, "Enregistrer");
  const form = h("form", {class: "login-card"},
    h("h1", {}, "Choisissez votre mot de passe"),
    h("p", {class: "muted"}, `Bonjour ${me.login} : remplacez le mot de passe provisoire reçu.`),
    field("Mot de passe provisoire", current),
    field("Nouveau mot de passe", fresh, "Au moins 12 caractères ; une phrase est idéale."),
    field("Confirmez le nouveau mot de passe", again), errors, submit);
  form.addEventListener("submit", async event => {
    event.preventDefault();
    if (fresh.value !== again.value) {
      showError(errors, new Error("Les deux saisies ne sont pas identiques."));
      again.focus();
      return;
    }
    try {
      await busy(submit, () => api("/auth/password", {method: "POST", body: {
        current_password: current.value, new_password: fresh.value}}));
    } catch (error) {
      showError(errors, error);
      return;
    }
    onDone();
  });
  fill(main, h("div", {class: "login-page"}, form));
  current.focus();
}
