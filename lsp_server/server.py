"""roar-lsp: the LSP methods wired to ``features``. Handlers stay short; the work is elsewhere.

The store is polled (``PRAGMA data_version``, one statement) rather than watched, so the
server sees jobs written by any process, on any file system, with any client.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

import roar
from lsp_server import actions, features
from lsp_server.documents import DocContext, Projects, fs_path
from lsp_server.settings import parse

log = logging.getLogger(__name__)
DISK_CHECK_EVERY = 2  # polls: files the open documents name are re-checked this often
DEBOUNCE = 0.3  # seconds after the last keystroke before diagnostics are recomputed


class RoarServer(LanguageServer):
    def __init__(self) -> None:
        cells = [types.NotebookCellLanguage(language="python")]
        super().__init__(
            "roar-lsp",
            roar.__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                notebook_selector=[types.NotebookDocumentFilterWithCells(cells=cells)]
            ),
        )
        self.projects = Projects()
        self.published: dict[str, list[types.Diagnostic]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._poller: asyncio.Task | None = None
        self._shown: dict[Path, str] = {}  # project root -> the notice last shown for it

    def context(self, uri: str) -> DocContext:
        nb = self.workspace.get_notebook_document(cell_uri=uri)
        return self.projects.context(fs_path(nb.uri if nb else uri))

    # diagnostics -----------------------------------------------------------------------------
    def publish(self, uri: str, *, force: bool = False) -> None:
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            return
        found = (
            features.diagnostics(doc, self.context(uri))
            if self.projects.settings.diagnostics
            else []
        )
        if force or found != self.published.get(uri):
            self.published[uri] = found
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=found)
            )

    def schedule(self, uri: str, delay: float = DEBOUNCE) -> None:
        if uri in self._timers:
            self._timers.pop(uri).cancel()
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(delay, self._run_publish, uri)

    def _run_publish(self, uri: str) -> None:
        self._timers.pop(uri, None)
        self.publish(uri)

    def forget(self, uri: str) -> None:
        if uri in self._timers:
            self._timers.pop(uri).cancel()
        if self.published.pop(uri, None):
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    # notices ---------------------------------------------------------------------------------
    def announce(self) -> None:
        """Show each project's notice (a store this server cannot read until the user acts)
        once, as a message the editor pops up: the log alone goes unseen."""
        for project in self.projects.all():
            if project.notice is None:
                self._shown.pop(project.root, None)
            elif self._shown.get(project.root) != project.notice:
                self._shown[project.root] = project.notice
                self.window_show_message(
                    types.ShowMessageParams(
                        type=types.MessageType.Warning, message=f"roar: {project.notice}"
                    )
                )

    # polling ---------------------------------------------------------------------------------
    def start_polling(self) -> None:
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll_forever())

    async def _poll_forever(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(self.projects.settings.poll_interval)
            tick += 1
            try:
                self.refresh(store_changed=any([p.poll() for p in self.projects.all()]), tick=tick)
                self.announce()
            except Exception:  # never let one bad poll end the loop
                log.exception("roar-lsp: refresh failed")

    def refresh(self, *, store_changed: bool, tick: int = 0) -> None:
        if not store_changed and tick % DISK_CHECK_EVERY:
            return
        for uri in list(self.workspace.text_documents):
            self.publish(uri)
        if store_changed and _supports_lens_refresh(self.client_capabilities):
            self.workspace_code_lens_refresh(None)


class ClientLog(logging.Handler):
    """Warnings also go to the editor's log (``window/logMessage``), where users look first."""

    def __init__(self, ls: LanguageServer) -> None:
        super().__init__(logging.WARNING)
        self.ls = ls

    def emit(self, record: logging.LogRecord) -> None:
        kind = (
            types.MessageType.Error
            if record.levelno >= logging.ERROR
            else types.MessageType.Warning
        )
        self.ls.window_log_message(types.LogMessageParams(type=kind, message=record.getMessage()))


def _supports_lens_refresh(caps: types.ClientCapabilities | None) -> bool:
    lens = caps.workspace.code_lens if caps and caps.workspace else None
    return bool(lens and lens.refresh_support)


server = RoarServer()


@server.feature(types.INITIALIZE)
def initialize(ls: RoarServer, params: types.InitializeParams) -> None:
    ls.projects.settings = parse(params.initialization_options)
    folders = params.workspace_folders or []
    root = fs_path(folders[0].uri) if folders else ls.workspace.root_path
    ls.projects.workspace_root = root
    logging.getLogger("lsp_server").addHandler(ClientLog(ls))


@server.feature(types.INITIALIZED)
def initialized(ls: RoarServer, params: types.InitializedParams) -> None:
    ls.projects.context(None).project.poll()  # open it now, not on the first hover
    ls.announce()
    ls.start_polling()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: RoarServer, params: types.DidChangeConfigurationParams) -> None:
    settings = parse(params.settings, ls.projects.settings)
    if settings.store != ls.projects.settings.store:
        ls.projects.reset()
    ls.projects.settings = settings
    ls.refresh(store_changed=True)


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: RoarServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.publish(params.text_document.uri, force=True)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: RoarServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: RoarServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
def notebook_did_open(ls: RoarServer, params: types.DidOpenNotebookDocumentParams) -> None:
    for cell in params.notebook_document.cells:
        ls.publish(cell.document, force=True)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
def notebook_did_change(ls: RoarServer, params: types.DidChangeNotebookDocumentParams) -> None:
    nb = ls.workspace.get_notebook_document(notebook_uri=params.notebook_document.uri)
    for cell in nb.cells if nb else []:
        ls.schedule(cell.document)


@server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
def notebook_did_close(ls: RoarServer, params: types.DidCloseNotebookDocumentParams) -> None:
    for cell in params.cell_text_documents:
        ls.forget(cell.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: RoarServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    found = features.hover(ls.workspace.get_text_document(uri), ls.context(uri), params.position)
    ls.announce()  # a project first opened for this hover may have something to say
    return found


@server.feature(types.TEXT_DOCUMENT_CODE_LENS)
def code_lens(ls: RoarServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    if not ls.projects.settings.code_lens:
        return []
    uri = params.text_document.uri
    return features.code_lenses(ls.workspace.get_text_document(uri), ls.context(uri))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: RoarServer, params: types.DefinitionParams) -> types.Location | None:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    return features.definition(doc, ls.context(uri), params.position, ls.workspace)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def code_action(ls: RoarServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    return actions.code_actions(doc, ls.context(uri), params.range, params.context.diagnostics)


@server.command(actions.MAKE)
async def make(ls: RoarServer, path: str) -> dict:
    """Run ``roar make -y PATH`` (the "roar make X" code action); say how it went."""
    ctx = ls.projects.context(path)
    code, output = await actions.run_make(ctx, path)
    kind = types.MessageType.Info if code == 0 else types.MessageType.Error
    message = actions.summary(path, ctx.project.root, code, output)
    ls.window_show_message(types.ShowMessageParams(type=kind, message=message))
    ctx.project.poll()  # the new jobs: diagnostics and lenses now, not at the next poll
    ls.refresh(store_changed=True)
    return {"exitCode": code, "output": output}
