// The interpreter selected in the Python extension (ms-python.python), through its public API,
// when that extension is installed: the environment where roar is most likely installed.
import * as vscode from "vscode";

const PYTHON_EXTENSION = "ms-python.python";

// The parts of the Python extension's API used here (@vscode/python-extension's PythonExtension).
interface EnvironmentPath {
  id: string;
  path: string;
}
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(env: EnvironmentPath | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
  settings?: { getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined } };
}

export function pythonExtensionInstalled(): boolean {
  return vscode.extensions.getExtension(PYTHON_EXTENSION) !== undefined;
}

async function api(): Promise<PythonApi | undefined> {
  const ext = vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (!ext) {
    return undefined;
  }
  return ext.isActive ? ext.exports : await ext.activate();
}

/** The selected interpreter's executable for the first workspace folder, if any. */
export async function selectedInterpreter(): Promise<string | undefined> {
  const python = await api();
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  if (python?.environments) {
    const active = python.environments.getActiveEnvironmentPath(resource);
    const resolved = await python.environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  }
  return python?.settings?.getExecutionDetails(resource).execCommand?.[0];
}

/** Call `listener` when the user selects another interpreter (nothing without the extension). */
export async function onInterpreterChange(listener: () => void): Promise<vscode.Disposable | undefined> {
  const python = await api().catch(() => undefined);
  return python?.environments?.onDidChangeActiveEnvironmentPath(listener);
}
