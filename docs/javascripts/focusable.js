// A region that scrolls sideways (a wide table or code block) must take keyboard focus, so
// that readers without a mouse can scroll it too (axe: scrollable-region-focusable). Whether
// a box overflows can change after the first paint (styles, a <details> opened, the window
// resized), so every box is watched and checked again whenever its size changes.
const SCROLLABLES = [".md-typeset__scrollwrap", ".md-typeset pre > code",
                     ".jp-OutputArea-output", ".highlight-ipynb",
                     ".md-typeset figure.dlnotes-figure"].join(", ");

function focusIfScrollable(box) {
  if (box.scrollWidth > box.clientWidth && !box.hasAttribute("tabindex")) {
    box.setAttribute("tabindex", "0");
  }
}

const watcher = new ResizeObserver(entries => {
  for (const entry of entries) focusIfScrollable(entry.target);
});

document$.subscribe(() => {
  for (const box of document.querySelectorAll(SCROLLABLES)) {
    focusIfScrollable(box);
    watcher.observe(box);
  }
});

// A collapsed code listing enters the page when its block opens (lazy-code.js).
document.addEventListener("dlnotes:rendered", event => {
  for (const box of event.detail.querySelectorAll(SCROLLABLES)) watcher.observe(box);
});
