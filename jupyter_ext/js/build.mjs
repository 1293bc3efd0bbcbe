// Two bundles from one renderer, into ../static (git-ignored, shipped in the wheel):
//   widget.js    ES module for anywidget (DagWidget._esm)
//   dag_view.js  classic script defining window.roarDag, for webviews and plain pages
//   dag_view.css the styles both use (DagWidget._css)
// Graphviz's WebAssembly is inlined by @viz-js/viz, so nothing is fetched at run time.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";

const outdir = new URL("../static/", import.meta.url).pathname;
const common = { bundle: true, minify: true, target: "es2020", legalComments: "linked", logLevel: "warning" };

await mkdir(outdir, { recursive: true });
await Promise.all([
  build({ ...common, entryPoints: ["src/widget.ts"], format: "esm", outfile: `${outdir}widget.js` }),
  build({ ...common, entryPoints: ["src/standalone.ts"], format: "iife", outfile: `${outdir}dag_view.js` }),
  copyFile("src/style.css", `${outdir}dag_view.css`),
]);
console.log(`built ${outdir}`);
