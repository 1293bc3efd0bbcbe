// roar for VS Code: start roar-lsp, forward the settings, restart it when they change, and open
// the lineage view. All provenance logic lives in the server.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";
import { showLineage } from "./lineage";
import { findServer, Launch } from "./server";
import { readSettings } from "./settings";

const LANGUAGES = ["python", "shellscript", "yaml", "json", "jsonc", "toml", "markdown"];

let client: LanguageClient | undefined;
let launch: Launch | undefined;
let output: vscode.LogOutputChannel;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("roar", { log: true });
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("roar.showLineage", (target?: string) =>
      showLineage(context, output, launch, target),
    ),
    vscode.commands.registerCommand("roar.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("roar")) {
        void restart();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await stop();
}

async function start(): Promise<void> {
  const settings = readSettings();
  launch = findServer(settings, (line) => output.info(`finding roar-lsp: ${line}`));
  if (!launch) {
    output.error("roar-lsp not found: set roar.server.path or roar.interpreter, or install roar");
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
  await stop();
  await start();
}
