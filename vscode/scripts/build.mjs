// Bundle the extension (vscode-languageclient included) into out/extension.js, and copy the
// lineage viewer's browser bundle from jupyter_ext (built there by its own `npm run build`)
// into media/, where the webview loads it. Both outputs are git-ignored.
import { build } from "esbuild";
import { copyFile, mkdir, access } from "node:fs/promises";

const here = new URL("..", import.meta.url).pathname;
const viewer = new URL("../../jupyter_ext/static/", import.meta.url).pathname;

await build({
  entryPoints: [`${here}src/extension.ts`],
  outfile: `${here}out/extension.js`,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["vscode"],
  minify: true,
  logLevel: "warning",
});

await mkdir(`${here}media`, { recursive: true });
for (const name of ["dag_view.js", "dag_view.css"]) {
  try {
    await access(`${viewer}${name}`);
  } catch {
    // The extension still works: "roar: Show lineage" then says how to build the viewer.
    console.warn(`warning: ${viewer}${name} is missing (run npm ci && npm run build in jupyter_ext/js)`);
    continue;
  }
  await copyFile(`${viewer}${name}`, `${here}media/${name}`);
}
console.log("built out/extension.js");
