// Typeset $...$ and $$...$$ in rendered notebooks with the site's own KaTeX: mkdocs-jupyter
// would otherwise load MathJax from a CDN. Only cells with a dollar sign are rewritten:
// rewriting a cell re-parses it, and doing that to every cell of a notebook made the browser
// rebuild most of the page as it loaded.
document.addEventListener("DOMContentLoaded", () => {
  for (const cell of document.querySelectorAll(".jupyter-wrapper .jp-RenderedMarkdown")) {
    if (!cell.textContent.includes("$")) continue;
    cell.innerHTML = cell.innerHTML
      .replace(/\$\$([\s\S]+?)\$\$/g, (_, tex) => katex.renderToString(tex, { displayMode: true, throwOnError: false }))
      .replace(/\$([^$\n]+?)\$/g, (_, tex) => katex.renderToString(tex, { throwOnError: false }));
  }
});
