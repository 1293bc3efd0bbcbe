// roar for VS Code: start roar-lsp, forward the settings, restart it when they change, and open
// the lineage view. All provenance logic lives in the server. When roar-lsp cannot be found, say
// so once, with where it was looked for and how to fix it.
import * as os from "node:os";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";
import { showLineage } from "./lineage";
import { onInterpreterChange, pythonExtensionInstalled, selectedInterpreter } from "./python";
import { findServer, Launch, notFoundMessage, Search } from "./server";
import { readSettings } from "./settings";

const LANGUAGES = ["python", "shellscript", "yaml", "json", "jsonc", "toml", "markdown"];

let client: LanguageClient | undefined;
let search: Search | undefined; // the last search for roar-lsp (search.launch: found)
let started: Promise<void> = Promise.resolve();
let output: vscode.LogOutputChannel;
let settingsQuery = "roar.";
const said = new Set<string>(); // not-found messages already shown this session

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("roar", { log: true });
  settingsQuery = `@ext:${context.extension.id}`;
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("roar.showLineage", async (target?: string) => {
      await started; // a command run while the extension starts waits for the search
      if (!search?.launch) {
        notFound(true); // asked for: say it again, rather than spawn a roar that is not there
        return;
      }
      await showLineage(context, output, search.launch, target);
    }),
    vscode.commands.registerCommand("roar.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("roar")) {
        void restart();
      }
    }),
  );
  // Another interpreter selected in the Python extension may be the one with roar in it (asked
  // only when no roar.* setting names the server).
  const interpreterChanged = async () => {
    const settings = readSettings();
    if (!settings.serverPath && !settings.interpreter && (await selectedInterpreter()) !== search?.interpreter) {
      await restart();
    }
  };
  void onInterpreterChange(() => void interpreterChanged()).then((d) => d && context.subscriptions.push(d));
  started = start();
  await started;
}

export async function deactivate(): Promise<void> {
  await stop();
}

async function start(): Promise<void> {
  const settings = readSettings();
  // the language client starts the server in the first workspace folder
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.tmpdir();
  search = await findServer(settings, selectedInterpreter, cwd, (line) => output.info(`finding roar-lsp: ${line}`));
  const launch: Launch | undefined = search.launch;
  if (!launch) {
    notFound(false);
    return;
  }
  const serverOptions: ServerOptions = { command: launch.command, args: launch.args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      ...LANGUAGES.map((language) => ({ scheme: "file", language })),
      { notebook: "*", language: "python" },
    ],
    initializationOptions: settings.forward,
    outputChannel: output,
  };
  client = new LanguageClient("roar", "roar provenance", serverOptions, clientOptions);
  try {
    await client.start();
    output.info(`roar-lsp started (${launch.source})`);
  } catch (err) {
    output.error(`roar-lsp failed to start: ${String(err)}`);
  }
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (running) {
    await running.stop();
  }
}

async function restart(): Promise<void> {
  output.info("restarting roar-lsp");
  await started.catch(() => undefined);
  await stop();
  started = start();
  await started;
}

/** Tell the user roar-lsp was not found: once per distinct message, unless `again`. */
function notFound(again: boolean): void {
  if (!search) {
    return;
  }
  const message = notFoundMessage(search);
  output.error(message);
  if (said.has(message) && !again) {
    return;
  }
  said.add(message);
  const actions = ["Open settings", ...(pythonExtensionInstalled() ? ["Select interpreter"] : []), "Show log"];
  void vscode.window.showErrorMessage(message, ...actions).then((choice) => {
    if (choice === "Open settings") {
      void openSettings();
    } else if (choice === "Select interpreter") {
      void vscode.commands.executeCommand("python.setInterpreter");
    } else if (choice === "Show log") {
      output.show();
    }
  });
}

/** The extension's settings. In a remote window (code-server, SSH, WSL) roar.server.path and
 * roar.interpreter (machine settings) are on the Remote tab, not the User one. */
async function openSettings(): Promise<void> {
  if (vscode.env.remoteName) {
    try {
      await vscode.commands.executeCommand("workbench.action.openRemoteSettings", { query: settingsQuery });
      return;
    } catch {
      // no such command in this host: the plain settings editor
    }
  }
  await vscode.commands.executeCommand("workbench.action.openSettings", { query: settingsQuery });
}
