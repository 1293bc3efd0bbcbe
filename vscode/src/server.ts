// Finding roar-lsp, in a fixed and logged order: the roar.server.path setting, then
// roar.interpreter (`<python> -m lsp_server`), then roar-lsp on PATH.
import * as fs from "node:fs";
import * as path from "node:path";
import { Settings } from "./settings";

export interface Launch {
  command: string;
  args: string[];
  source: string; // which rule found it, for the log
}

export function findServer(settings: Settings, log: (line: string) => void): Launch | undefined {
  if (settings.serverPath) {
    log(`roar.server.path: ${settings.serverPath}`);
    return { command: settings.serverPath, args: [], source: "roar.server.path" };
  }
  if (settings.interpreter) {
    log(`roar.interpreter: ${settings.interpreter} -m lsp_server`);
    return { command: settings.interpreter, args: ["-m", "lsp_server"], source: "roar.interpreter" };
  }
  const onPath = which("roar-lsp");
  log(onPath ? `PATH: ${onPath}` : "roar-lsp is not on PATH");
  return onPath ? { command: onPath, args: [], source: "PATH" } : undefined;
}

/** The roar CLI that belongs with the server (same interpreter or same bin folder). */
export function roarCli(launch: Launch): { command: string; args: string[] } {
  if (launch.source === "roar.interpreter") {
    return { command: launch.command, args: ["-m", "roar"] };
  }
  const sibling = path.join(path.dirname(launch.command), "roar");
  return { command: fs.existsSync(sibling) ? sibling : "roar", args: [] };
}

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}
