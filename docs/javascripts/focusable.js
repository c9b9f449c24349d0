// A region that scrolls sideways (a wide table or code block) must take keyboard focus, so
// that readers without a mouse can scroll it too (axe: scrollable-region-focusable).
function focusScrollables() {
  const boxes = [".md-typeset__scrollwrap", ".md-typeset pre > code", ".jp-OutputArea-output",
                 ".highlight-ipynb"].join(", ");
  for (const box of document.querySelectorAll(boxes)) {
    if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) {
      box.setAttribute("tabindex", "0");
    }
  }
}
document$.subscribe(focusScrollables);
window.addEventListener("resize", focusScrollables);
