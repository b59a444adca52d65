// Progressive enhancement only: every page works without it (no inline script; the CSP forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Forms that ask before they change something (revoking a token).
  document.querySelectorAll("form.confirm[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });
  // Filter forms leave empty fields out of the address (?verdict=UNVERIFIED, not ?repo=&service=&…).
  document.querySelectorAll("form.filters[method=get]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("input[name], select[name]").forEach(function (field) {
        if (!field.value) field.disabled = true;
      });
    });
  });
  // Copy buttons (a new token).
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.querySelector(button.getAttribute("data-copy"));
      if (!field) return;
      field.select();
      if (navigator.clipboard) navigator.clipboard.writeText(field.value);
      button.textContent = "Copied";
    });
  });
});
