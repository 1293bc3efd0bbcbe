// "roar: Show lineage": the lineage DAG in a webview, drawn by the same browser code as the
// notebook widget (jupyter_ext's dag_view.js, copied into media/ at build time). The graph comes
// from the roar CLI (`roar dag --format graph-json [--artifact PATH]`); nothing is fetched.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import { Launch, roarCli } from "./server";

interface Message {
  type: "ready" | "refresh" | "select";
  node?: { type?: string; path?: string } | null;
}

let panel: vscode.WebviewPanel | undefined;

export async function showLineage(
  context: vscode.ExtensionContext,
  output: vscode.LogOutputChannel,
  launch: Launch,
  target?: string,
): Promise<void> {
  const cwd = projectFolder(target);
  if (!cwd) {
    void vscode.window.showWarningMessage("roar: open a folder with a roar project first.");
    return;
  }
  const load = () => graph(launch, cwd, target, output);
  const media = vscode.Uri.joinPath(context.extensionUri, "media");
  panel?.dispose();
  panel = vscode.window.createWebviewPanel("roarLineage", "roar lineage", vscode.ViewColumn.Beside, {
    enableScripts: true,
    retainContextWhenHidden: true,
    localResourceRoots: [media],
  });
  panel.onDidDispose(() => (panel = undefined));
  const bundled = fs.existsSync(path.join(media.fsPath, "dag_view.js"));
  panel.webview.html = html(panel.webview, media, bundled);
  panel.webview.onDidReceiveMessage(async (msg: Message) => {
    if (msg.type === "ready" || msg.type === "refresh") {
      await post(panel, load);
    } else if (msg.type === "select" && msg.node?.type === "artifact" && msg.node.path) {
      if (fs.existsSync(msg.node.path)) {
        await vscode.window.showTextDocument(vscode.Uri.file(msg.node.path), { viewColumn: vscode.ViewColumn.One });
      }
    }
  });
}

async function post(view: vscode.WebviewPanel | undefined, load: () => Promise<unknown>): Promise<void> {
  try {
    await view?.webview.postMessage({ type: "payload", payload: await load() });
  } catch (err) {
    await view?.webview.postMessage({ type: "error", message: String(err) });
  }
}

function projectFolder(target?: string): string | undefined {
  const uri = target ? vscode.Uri.file(target) : vscode.window.activeTextEditor?.document.uri;
  const folder = (uri && vscode.workspace.getWorkspaceFolder(uri)) ?? vscode.workspace.workspaceFolders?.[0];
  return folder?.uri.fsPath;
}

function graph(launch: Launch, cwd: string, target: string | undefined, output: vscode.LogOutputChannel) {
  const cli = roarCli(launch);
  const args = [...cli.args, "dag", "--format", "graph-json", ...(target ? ["--artifact", target] : [])];
  output.info(`lineage: ${cli.command} ${args.join(" ")} (in ${cwd})`);
  return new Promise<unknown>((resolve, reject) => {
    execFile(cli.command, args, { cwd, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        // not the raw `spawn roar ENOENT`: which roar, and how to point the extension at one
        reject(
          new Error(
            `the roar command was not found: it is looked for beside roar-lsp (${launch.command}, ` +
              `found through ${launch.source}), else on PATH. Set roar.interpreter to a Python that has roar installed.`,
          ),
        );
        return;
      }
      if (err) {
        reject(new Error(stderr.trim() || err.message));
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch (parseErr) {
        reject(new Error(`roar dag printed no graph: ${String(parseErr)}`));
      }
    });
  });
}

function html(webview: vscode.Webview, media: vscode.Uri, bundled: boolean): string {
  const nonce = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join("");
  const src = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(media, name)).toString();
  // 'wasm-unsafe-eval': the viewer runs Graphviz as WebAssembly inlined in its bundle.
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'unsafe-inline'`,
    `script-src 'nonce-${nonce}' 'wasm-unsafe-eval'`,
  ].join("; ");
  const viewer = bundled
    ? `<link rel="stylesheet" href="${src("dag_view.css")}"><script nonce="${nonce}" src="${src("dag_view.js")}"></script>`
    : "";
  return `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
${viewer}
<style>html, body, #dag { height: 100%; margin: 0; } .roar-message { padding: 1em; font-family: var(--vscode-font-family); }</style>
</head><body><div id="dag"></div>
<script nonce="${nonce}">${WEBVIEW_SCRIPT}</script></body></html>`;
}

// Runs inside the webview: draws each payload the extension posts, reports selections back.
const WEBVIEW_SCRIPT = `
const vscode = acquireVsCodeApi();
const container = document.getElementById("dag");
let view = null;
function message(text) {
  container.replaceChildren(Object.assign(document.createElement("p"), { className: "roar-message", textContent: text }));
}
window.addEventListener("message", (event) => {
  const msg = event.data;
  if (msg.type === "error") { if (view) view.showError(msg.message); else message("roar: " + msg.message); return; }
  if (msg.type !== "payload") return;
  if (!window.roarDag) {
    message("roar: the lineage viewer is not bundled in this build (build jupyter_ext/js, then this extension). "
      + msg.payload.counts.jobs + " job(s), " + msg.payload.counts.artifacts + " artifact(s) recorded.");
    return;
  }
  if (view) { view.update(msg.payload); return; }
  view = window.roarDag.render(container, msg.payload, {
    onSelect: (id, node) => vscode.postMessage({ type: "select", node }),
    onRefresh: () => vscode.postMessage({ type: "refresh" }),
  });
});
vscode.postMessage({ type: "ready" });
`;
