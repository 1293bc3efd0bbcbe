"""roar-lsp: provenance in the editor. A pygls language server over the roar store, read only.

Hover a path or a hash for what produced it, from what, and whether it is still current;
diagnostics on stale, modified and missing artifacts; code lenses; go to the producing code.
"""
