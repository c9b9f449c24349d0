// Typeset $...$ and $$...$$ in rendered notebooks with the site's own KaTeX: mkdocs-jupyter
// would otherwise load MathJax from a CDN.
document.addEventListener("DOMContentLoaded", () => {
  for (const cell of document.querySelectorAll(".jupyter-wrapper .jp-RenderedMarkdown")) {
    cell.innerHTML = cell.innerHTML
      .replace(/\$\$([\s\S]+?)\$\$/g, (_, tex) => katex.renderToString(tex, { displayMode: true, throwOnError: false }))
      .replace(/\$([^$\n]+?)\$/g, (_, tex) => katex.renderToString(tex, { throwOnError: false }));
  }
});
