// The extension's settings, read in one place: what finds the server, and what is forwarded to
// it as initializationOptions (the server validates them; bad values fall back to defaults).
import * as vscode from "vscode";

export interface ServerOptionsForward {
  store: string | null;
  pollInterval: number;
  diagnostics: boolean;
  codeLens: boolean;
}

export interface Settings {
  serverPath: string;
  interpreter: string;
  forward: ServerOptionsForward;
}

export function readSettings(): Settings {
  const cfg = vscode.workspace.getConfiguration("roar");
  return {
    serverPath: cfg.get<string>("server.path", "").trim(),
    interpreter: cfg.get<string>("interpreter", "").trim(),
    forward: {
      store: cfg.get<string>("store", "").trim() || null,
      pollInterval: cfg.get<number>("pollInterval", 1),
      diagnostics: cfg.get<boolean>("diagnostics.enable", true),
      codeLens: cfg.get<boolean>("codeLens.enable", true),
    },
  };
}
