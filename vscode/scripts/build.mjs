// Bundle the extension (vscode-languageclient included) into out/extension.js, and copy the
// lineage viewer's browser bundle from jupyter_ext (built there by its own `npm run build`,
// `make widget`) into media/, where the webview loads it. Both outputs are git-ignored.
// Also run by `vsce package` (vscode:prepublish), so no .vsix is made without the viewer.
import { build } from "esbuild";
import { copyFile, mkdir, access } from "node:fs/promises";
import { relative } from "node:path";
import { exit } from "node:process";

const here = new URL("..", import.meta.url).pathname;
const viewer = new URL("../../jupyter_ext/static/", import.meta.url).pathname;
const VIEWER_FILES = ["dag_view.js", "dag_view.css"];

// The viewer first: a .vsix without it would open "roar: Show lineage" on an apology.
const missing = [];
for (const name of VIEWER_FILES) {
  try {
    await access(`${viewer}${name}`);
  } catch {
    missing.push(relative(`${here}..`, `${viewer}${name}`)); // as named from the repository root
  }
}
if (missing.length) {
  console.error(
    `error: the lineage viewer's bundle is missing (${missing.join(", ")}), and the extension ` +
      "would ship without it. Build it first: `make widget` at the repository root " +
      "(or `npm ci && npm run build` in jupyter_ext/js).",
  );
  exit(1);
}

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
for (const name of VIEWER_FILES) {
  await copyFile(`${viewer}${name}`, `${here}media/${name}`);
}
console.log("built out/extension.js and media/ (the lineage viewer)");
