/* Keys for the grading and review pages (htmx swaps #pair; both pages also work without this).
   A key clicks the #pair button with that data-key (grading: 0-3 grade, s skips, u undoes,
   c opens "can't judge" and its reasons' keys then count;
   review: h, m, 0-3, a decide, u undoes); ? toggles the help. No key fires while typing. */
(function () {
  "use strict";

  var RENEW_EVERY_MS = 60 * 1000;
  var busy = false;
  var lastRenew = Date.now();

  function typing(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function help() { return document.getElementById("help"); }

  function toggleHelp() {
    var dialog = help();
    if (!dialog || typeof dialog.showModal !== "function") return false;
    if (dialog.open) dialog.close(); else dialog.showModal();
    return true;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Busy from a request until the next pair has settled: htmx enhances swapped-in forms only
  // when they settle, so a key pressed in between would post the plain form (a page load).
  function setBusy(value) {
    busy = value;
    if (value) document.documentElement.setAttribute("data-grading-busy", "");
    else document.documentElement.removeAttribute("data-grading-busy");
  }
  document.addEventListener("htmx:beforeRequest", function () { setBusy(true); });
  document.addEventListener("htmx:afterSettle", function () { setBusy(false); });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (!event.detail.successful) setBusy(false); // nothing will be swapped in
    else setTimeout(function () { setBusy(false); }, 1000); // a swap that never settles
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id !== "pair" && !document.getElementById("pair")) return;
    lastRenew = Date.now(); // a new pair means a fresh lease
    restorePosition();
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
  });
  document.addEventListener("htmx:responseError", function (event) {
    var pair = document.getElementById("pair");
    if (!pair) return;
    var note = document.createElement("p");
    note.className = "notice notice-error";
    note.textContent = "The server answered " + event.detail.xhr.status + ". Reload the page to go on.";
    pair.prepend(note);
  });

  // A real mouse click grades "by click"; keys below mark theirs before clicking the button.
  document.addEventListener("click", function (event) {
    if (!event.isTrusted) return;
    var button = event.target.closest && event.target.closest("#pair button[type=submit]");
    var method = button && button.form && button.form.querySelector("input[name=input_method]");
    if (method) method.value = "click";
  }, true);

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-help-toggle]");
    if (link && toggleHelp()) event.preventDefault();
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    if (typing(target)) {
      if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "?") {
      if (toggleHelp()) event.preventDefault();
      return;
    }
    var dialog = help();
    if (dialog && dialog.open) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : "";
    if (!key) return;
    // A key inside a folded panel (the "can't judge" reasons) counts only once it is open.
    var button = Array.prototype.find.call(document.querySelectorAll('#pair [data-key="' + key + '"]'), function (el) {
      var panel = el.closest("details");
      return !panel || panel.open || el.tagName === "SUMMARY";
    });
    if (!button || button.disabled) return;
    event.preventDefault();
    if (busy) return; // the previous grade is on its way; never grade a pair twice by key repeat
    if (event.repeat) return;
    var method = button.form && button.form.querySelector("input[name=input_method]");
    if (method) method.value = "key";
    // A form htmx has not enhanced yet (a key pressed as the page loads) would post as a plain
    // form: a full page load. Enhancing is idempotent, so make sure now.
    if (window.htmx && button.form) window.htmx.process(button.form);
    button.click();
  });

  // A long document keeps where its reader was (a reload, the highlight toggle, coming back to
  // the pair after an undo): the scroll position and the unfolded state, per document, for the tab.
  function docKey() {
    var text = document.getElementById("doc-text");
    return text && text.dataset.docKey ? "assessor:doc:" + text.dataset.docKey : null;
  }
  function stored(key) { try { return window.sessionStorage.getItem(key); } catch (e) { return null; } }
  function store(key, value) { try { window.sessionStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function restorePosition() {
    var text = document.getElementById("doc-text");
    var key = docKey();
    if (!text || !key) return;
    if (stored(key + ":unfolded") === "1") text.classList.add("unfolded");
    text.scrollTop = parseInt(stored(key) || "0", 10) || 0;
  }
  document.addEventListener("scroll", function (event) {
    if (event.target && event.target.id === "doc-text" && docKey()) store(docKey(), String(event.target.scrollTop));
  }, { passive: true, capture: true });
  document.addEventListener("click", function (event) {
    var unfold = event.target.closest && event.target.closest("[data-doc-unfold]");
    var text = document.getElementById("doc-text");
    if (!unfold || !text) return;
    var open = text.classList.toggle("unfolded");
    unfold.textContent = open ? "Fold the document" : "Unfold the whole document";
    store(docKey() + ":unfolded", open ? "1" : "0");
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restorePosition);
  else restorePosition();

  // Keep the pair held while its annotator is active (the lease lapses after a few idle minutes).
  function activity() {
    if (Date.now() - lastRenew < RENEW_EVERY_MS) return;
    var pair = document.getElementById("pair");
    if (!pair || !pair.dataset.renewUrl || !window.fetch) return;
    lastRenew = Date.now();
    var body = new URLSearchParams({ item: pair.dataset.item });
    fetch(pair.dataset.renewUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
    }).catch(function () { /* offline for a moment: the next activity tries again */ lastRenew = 0; });
  }
  ["keydown", "mousemove", "scroll", "click"].forEach(function (type) {
    document.addEventListener(type, activity, { passive: true, capture: true });
  });
})();
