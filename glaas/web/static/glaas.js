// GLaaS pages: the copy buttons (the clipboard API, else select the text and execCommand).
"use strict";
(function () {
  function selectText(el) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function done(button, word) {
    button.textContent = word;
    button.dataset.state = word.toLowerCase();
    setTimeout(() => { button.textContent = "Copy"; }, 2000);
  }

  function fallback(el, button) {
    selectText(el); // stays selected: Ctrl+C works even where copying is refused
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    done(button, ok ? "Copied" : "Selected");
  }

  document.querySelectorAll("button.copy[data-copy]").forEach((button) => {
    button.addEventListener("click", () => {
      const el = document.getElementById(button.dataset.copy);
      if (!el) return;
      const text = el.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(
          () => { selectText(el); done(button, "Copied"); },
          () => fallback(el, button));
      } else {
        fallback(el, button);
      }
    });
  });
})();
