// Typeset the formulas that pymdownx.arithmatex marks, with the KaTeX copy the site serves.
document$.subscribe(() => {
  for (const element of document.querySelectorAll(".arithmatex")) {
    const display = element.tagName === "DIV";
    const tex = element.textContent.trim().replace(/^\\[\[(]/, "").replace(/\\[\])]$/, "");
    katex.render(tex, element, { displayMode: display, throwOnError: false });
  }
});
