"""roar's start-up hook for Python processes under `roar run` (this directory is put first on
PYTHONPATH, with ROAR_S3_OUT naming where records go).

It adds one import hook and then runs the ``sitecustomize`` it shadows, if any (the next one on
``sys.path``), as opentelemetry-instrument and ddtrace-run do. The hook waits for the program
itself to import ``botocore.handlers`` (boto3, s3fs and aiobotocore all do, through
``botocore.session``) and then adds roar's S3 handlers (``_roar_s3``) to botocore's built-in
list: a program that never uses botocore never imports it, and one that does gets the handlers
in every session it makes. Nothing here is imported beyond what the interpreter already loaded.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_TARGET = "botocore.handlers"


class _RoarS3Finder:
    """On the first import of botocore.handlers: let the other finders find it, and once it has
    run, install roar's handlers. Then this finder leaves ``sys.meta_path``."""

    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


class _Loader:
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._inner  # as if roar were not there
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        try:
            _hooks().install(module)
        except Exception:  # noqa: BLE001,S110 - never break the program's import
            pass

    def __getattr__(self, name):
        return getattr(self._inner, name)


def _hooks():
    module = sys.modules.get("_roar_s3")
    if module is None:
        import importlib.util

        path = os.path.join(_HERE, "_roar_s3.py")
        spec = importlib.util.spec_from_file_location("_roar_s3", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["_roar_s3"] = module
        spec.loader.exec_module(module)
    return module


def _chain():
    """Run the sitecustomize this one shadows (the next on sys.path), as Python would have."""
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    finder = next((f for f in sys.meta_path if getattr(f, "__name__", "") == "PathFinder"), None)
    if finder is None:
        return
    spec = finder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = sys.modules["_frozen_importlib"].module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def watch():
    """Install roar's handlers when botocore.handlers is imported (now, if it already is)."""
    if "botocore.handlers" in sys.modules:
        _hooks().install(sys.modules["botocore.handlers"])
    elif not any(type(f).__name__ == "_RoarS3Finder" for f in sys.meta_path):
        sys.meta_path.insert(0, _RoarS3Finder())


# (a Ray worker's setup loads this file under another name; an old Python leaves it alone)
if __name__ == "sitecustomize" and sys.version_info >= (3, 6):
    if os.environ.get("ROAR_S3_OUT") and "botocore.handlers" not in sys.modules:
        sys.meta_path.insert(0, _RoarS3Finder())
    _chain()
