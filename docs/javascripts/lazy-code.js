// Code listings inside collapsed blocks arrive as <template>s (dlnotes/lazy_code.py explains
// why: the theme's work per code block, on every block at load, blocked the page). This puts a
// listing in place when every block around it is open, with the copy button the theme gives
// the listings it mounts itself; the theme's clipboard handler serves any such button.
let rendered = 0;

function render(template) {
  const block = template.content.firstElementChild;
  const pre = block.querySelector("pre");
  pre.id = `__dlnotes_code_${rendered++}`;
  const nav = document.createElement("nav");
  nav.className = "md-code__nav";
  const copy = document.createElement("button");
  copy.className = "md-code__button";
  copy.title = "Copy to clipboard";
  copy.dataset.clipboardTarget = `#${pre.id} > code`;
  copy.dataset.mdType = "copy";
  nav.append(copy);
  pre.querySelector("code").before(nav);
  const fallback = template.nextElementSibling;
  if (fallback && fallback.tagName === "NOSCRIPT") fallback.remove();
  template.replaceWith(block);
  document.dispatchEvent(new CustomEvent("dlnotes:rendered", { detail: block }));
}

function renderVisible(root) {
  for (const template of root.querySelectorAll("template.dlnotes-lazy-code")) {
    if (!template.parentElement.closest("details:not([open])")) render(template);
  }
}

// "toggle" does not bubble: listen in the capture phase, for every block on the page.
document.addEventListener("toggle", event => {
  if (event.target.open) renderVisible(event.target);
}, true);
window.addEventListener("beforeprint", () => {
  for (const template of document.querySelectorAll("template.dlnotes-lazy-code")) {
    render(template);
  }
});
