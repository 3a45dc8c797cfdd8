// Solidarity pages: small behaviours htmx does not cover. No inline scripts (CSP).
(function () {
  "use strict";

  function messages() {
    return document.getElementById("messages");
  }

  function say(text) {
    var box = messages();
    if (!box) return;
    box.innerHTML = "";
    var div = document.createElement("div");
    div.className = "alert alert-error";
    div.setAttribute("role", "alert");
    var p = document.createElement("p");
    p.textContent = text;
    div.appendChild(p);
    box.appendChild(div);
  }

  // Server errors (5xx) and lost connections are not swapped: say so in the message area.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status >= 500) {
      say(document.documentElement.lang === "fr"
        ? "Erreur du serveur (" + xhr.status + "). Réessayez ou prévenez l'administrateur."
        : "Server error (" + xhr.status + "). Try again or tell the administrator.");
    }
  });
  document.addEventListener("htmx:sendError", function () {
    say(document.documentElement.lang === "fr"
      ? "Le serveur ne répond pas. Vérifiez la connexion."
      : "The server does not answer. Check the connection.");
  });

  // After a swap, move focus to the first error or status message so that
  // keyboard and screen reader users learn what happened.
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.querySelector) return;
    var first = target.querySelector("[aria-invalid='true'], .alert[role='alert'], .alert[role='status']");
    if (first) {
      if (!first.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(first.tagName)) {
        first.setAttribute("tabindex", "-1");
      }
      first.focus();
    }
  });

  // Keyboard shortcuts of the duplicate review: m (merge), n (not a match), s (skip).
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = (event.target && event.target.tagName) || "";
    if (/^(INPUT|TEXTAREA|SELECT)$/.test(tag) || (event.target && event.target.isContentEditable)) return;
    var button = document.querySelector("[data-shortcut='" + event.key.toLowerCase() + "']");
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
})();
