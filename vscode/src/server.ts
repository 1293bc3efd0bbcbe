// Finding roar-lsp, in a fixed and logged order: the roar.server.path setting, then
// roar.interpreter (`<python> -m lsp_server`), then the Python extension's selected interpreter
// when roar is installed in it, then roar-lsp on PATH. What was searched is kept, so that a
// failed search can say where it looked and what to do.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Settings } from "./settings";

export interface Launch {
  command: string;
  args: string[];
  source: string; // which rule found it, for the log
}

export interface Search {
  launch?: Launch;
  searched: string[]; // one line per place looked at, in order: "roar.interpreter: /x (not found)"
  interpreter?: string; // the Python extension's selected interpreter, if there is one
}

/** The Python extension's selected interpreter, or undefined (not installed, none selected). */
export type SelectedInterpreter = () => Promise<string | undefined>;

export async function findServer(
  settings: Settings,
  selected: SelectedInterpreter,
  cwd: string, // where the server will run: the probe for roar runs there too
  log: (line: string) => void,
): Promise<Search> {
  const searched: string[] = [];
  const note = (line: string) => {
    searched.push(line);
    log(line);
  };
  if (settings.serverPath) {
    const found = executable(settings.serverPath);
    note(`roar.server.path: ${settings.serverPath}${found ? "" : " (no such executable)"}`);
    // a path the user set is what they want: no falling back to another roar behind their back
    return found ? { launch: { command: found, args: [], source: "roar.server.path" }, searched } : { searched };
  }
  note("roar.server.path: not set");
  if (settings.interpreter) {
    const why = await withoutRoar(settings.interpreter, cwd);
    note(`roar.interpreter: ${settings.interpreter}${why ? ` (${why})` : ""}`);
    return why
      ? { searched }
      : { launch: { command: settings.interpreter, args: ["-m", "lsp_server"], source: "roar.interpreter" }, searched };
  }
  note("roar.interpreter: not set");
  const interpreter = await selected().catch((err: unknown) => {
    log(`the Python extension did not answer: ${String(err)}`);
    return undefined;
  });
  if (interpreter) {
    const why = await withoutRoar(interpreter, cwd);
    note(`the Python extension's interpreter: ${interpreter}${why ? ` (${why})` : ""}`);
    if (!why) {
      return {
        launch: { command: interpreter, args: ["-m", "lsp_server"], source: "the Python extension's interpreter" },
        searched,
        interpreter,
      };
    }
  } else {
    note("the Python extension's interpreter: none (the extension is not installed, or no interpreter is selected)");
  }
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  const onPath = which("roar-lsp", dirs);
  log(`PATH: ${dirs.join(path.delimiter)}`);
  note(onPath ? `PATH: ${onPath}` : `PATH: no roar-lsp in its ${dirs.length} folder(s)`);
  return { launch: onPath ? { command: onPath, args: [], source: "PATH" } : undefined, searched, interpreter };
}

/** What the user reads when roar-lsp was not found: where it was looked for, and the fixes. */
export function notFoundMessage(search: Search): string {
  const install = search.interpreter
    ? `install roar into the selected interpreter (${search.interpreter} -m pip install 'roar[lsp]')`
    : "install roar into your Python environment (pip install 'roar[lsp]')";
  return (
    "roar: the language server roar-lsp was not found, so there is no provenance hover, code lens " +
    `or lineage. Searched: ${search.searched.join("; ")}. ` +
    `To fix: set roar.server.path (the roar-lsp executable) or roar.interpreter (a Python with roar), or ${install}.`
  );
}

/** The roar CLI that belongs with the server (same interpreter or same bin folder). */
export function roarCli(launch: Launch): { command: string; args: string[] } {
  if (launch.args[0] === "-m") {
    return { command: launch.command, args: ["-m", "roar"] };
  }
  const sibling = path.join(path.dirname(launch.command), "roar");
  return { command: fs.existsSync(sibling) ? sibling : "roar", args: [] };
}

/** Why `python -m lsp_server` cannot work with this interpreter, or undefined if it can. */
function withoutRoar(python: string, cwd: string): Promise<string | undefined> {
  if (!executable(python)) {
    return Promise.resolve("no such executable");
  }
  // find_spec: locates the package without importing it (no pygls import, ~20 ms)
  const probe = "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('lsp_server') else 3)";
  return new Promise((resolve) => {
    execFile(python, ["-c", probe], { cwd, timeout: 20_000 }, (err) => {
      if (!err) {
        resolve(undefined);
      } else {
        resolve(err.code === 3 ? "roar is not installed in it" : `it did not run: ${err.message.split("\n")[0]}`);
      }
    });
  });
}

/** An executable file: a path as given, or a bare name looked up on PATH. */
function executable(command: string): string | undefined {
  if (command.includes(path.sep)) {
    return isExecutable(command) ? command : undefined;
  }
  return which(command, (process.env.PATH ?? "").split(path.delimiter).filter(Boolean));
}

function which(name: string, dirs: string[]): string | undefined {
  return dirs.map((dir) => path.join(dir, name)).find(isExecutable);
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
