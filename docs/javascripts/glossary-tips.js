// A glossary term's definition, shown in the theme's tooltip when the pointer rests on the
// term (dlnotes/glossary.py marks the terms). The theme's own tooltips (content.tooltips) set
// up a component for every element with a title as the page loads: on a long page, 200
// terms and a fifth of its main-thread work on a phone, before the reader hovers over any.
// This is one listener for the whole page, and one tooltip, built on first use.
(function () {
  "use strict";
  const ID = "__dlnotes_term_tip";
  let tip = null;
  let host = null;
  let definition = "";

  function tooltip() {
    if (tip) return tip;
    tip = document.createElement("div");
    tip.className = "md-tooltip2 md-tooltip2--bottom";
    tip.setAttribute("role", "tooltip");
    tip.id = ID;
    const inner = document.createElement("div");
    inner.className = "md-tooltip2__inner md-typeset";
    tip.append(inner);
    document.body.append(tip);
    return tip;
  }

  // Below the term, centred on it, as the theme places its tooltips (its CSS reads these).
  function show(term) {
    if (term === host) return;
    hide();
    host = term;
    definition = term.getAttribute("title");
    term.removeAttribute("title");  // or the browser shows its own tooltip as well
    term.setAttribute("aria-describedby", ID);
    const box = tooltip();
    box.firstElementChild.textContent = definition;
    const at = term.getBoundingClientRect();
    box.style.setProperty("--md-tooltip-host-x", `${at.left + window.scrollX}px`);
    box.style.setProperty("--md-tooltip-host-y", `${at.top + window.scrollY}px`);
    box.style.setProperty("--md-tooltip-x", `${at.width / 2}px`);
    box.style.setProperty("--md-tooltip-y", `${8 + at.height}px`);
    box.style.setProperty("--md-tooltip-tail", "0px");
    box.style.setProperty("--md-tooltip-width",
                          `${box.firstElementChild.getBoundingClientRect().width}px`);
    requestAnimationFrame(() => box.classList.add("md-tooltip2--active"));  // fades in
  }

  function hide() {
    if (!host) return;
    host.setAttribute("title", definition);
    host.removeAttribute("aria-describedby");
    tip.classList.remove("md-tooltip2--active");
    host = null;
  }

  document.addEventListener("mouseover", event => {
    const term = event.target.closest && event.target.closest("abbr[data-preview]");
    if (term && (term === host || term.hasAttribute("title"))) show(term);
    else hide();
  });
  document.documentElement.addEventListener("mouseleave", hide);
  window.addEventListener("resize", hide);
  document.addEventListener("keydown", event => {  // dismissible without moving the pointer
    if (event.key === "Escape") hide();
  });
})();
