"""binder/ as mybinder.org uses it, step by step, in a fresh virtualenv outside the repository.

repo2docker installs binder/apt.txt, runs `pip install -r binder/requirements.txt` from the
repository root, then binder/postBuild, all as the notebook user (no root, so no eBPF); then
JupyterLab opens binder/roar-demo/demo.ipynb on the roar kernel. Here:

1. the apt.txt packages must already be installed (the test installs nothing system-wide);
2. a copy of the working tree (tracked and untracked files, as a git clone would have them)
   goes into a temporary directory, and `pip install -r binder/requirements.txt` runs from it
   into a new virtualenv. pip builds roar from source with this machine's Rust toolchain and
   caches, as the user running the tests (Binder's images have no Rust; maturin downloads one
   there, which needs the internet this test may not have);
3. postBuild and the notebook run as an unprivileged user: the one running the tests if that
   is not root, else `nobody` through setpriv, with a home directory of its own in the temporary
   directory. When that is impossible, they run as root with roar built without eBPF
   (ROAR_EBPF_DISABLE=1), so that `auto` must again pick preload;
4. nbclient executes the notebook on the roar kernel, and the store is read back with
   `roar show --json`: the cells and the `%roar run` step as jobs, with their files, all traced
   by preload.
"""

from __future__ import annotations

import itertools
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from blake3 import blake3

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT = 1500  # pip building roar's Rust core from a cold target directory
STEP_TIMEOUT = 600  # postBuild (npm ci and the DAG viewer's bundle), executing the notebook
CELL_TIMEOUT = 180
DEMO = "binder/roar-demo"
CELL_JOBS = ["clean", "summarize", "show-report"]  # the notebook's cells that are jobs
VIEW_MIME = "application/vnd.jupyter.widget-view+json"
STATE_MIME = "application/vnd.jupyter.widget-state+json"

# nbclient executes the notebook the way Jupyter Server starts its kernel: in the notebook's
# folder, told the notebook's path relative to the server's root (the repository on Binder).
EXECUTE = """
import os, sys
import nbformat
from nbclient import NotebookClient

path, out = sys.argv[1:3]
nb = nbformat.read(path, as_version=4)
client = NotebookClient(
    nb, timeout=int(sys.argv[3]), kernel_name="roar", allow_errors=True,
    store_widget_state=True, resources={"metadata": {"path": os.path.dirname(path)}},
)
client.execute(env={**os.environ, "JPY_SESSION_NAME": sys.argv[4]})
nbformat.write(nb, out)
"""


@dataclass(frozen=True)
class User:
    """Who runs postBuild and the notebook; ``uid`` None: the user running the tests."""

    uid: int | None
    gid: int | None
    name: str

    @property
    def root(self) -> bool:
        return (os.geteuid() if self.uid is None else self.uid) == 0

    def argv(self, argv: list[str]) -> list[str]:
        if self.uid is None:
            return argv
        drop = [f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        return ["setpriv", *drop, "--", *argv]


def run(argv: list[str], *, timeout: float, what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a step; on failure, fail the test with what the step printed."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"{what} did not finish within {timeout:.0f} s:\n{_tail(exc.stdout, exc.stderr)}"
        )
    if done.returncode != 0:
        pytest.fail(f"{what} failed (exit {done.returncode}):\n{_tail(done.stdout, done.stderr)}")
    return done


def _tail(*streams: str | bytes | None, chars: int = 6000) -> str:
    text = "\n".join(
        s.decode(errors="replace") if isinstance(s, bytes) else s for s in streams if s
    )
    return text[-chars:]


def can_run(user: User, argv: list[str]) -> bool:
    try:
        return subprocess.run(user.argv(argv), capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Can this Python make a virtualenv, and can its user read it (not just start it: a sandbox may
# let a user exec a file in a directory it cannot search, which then breaks #! lines)?
VENV_PYTHON_CHECK = (
    "import ensurepip, os, sys, venv; "
    "sys.exit(sys.version_info < (3, 10) or not os.access(os.path.realpath(sys.executable), os.R_OK))"
)


def base_python(user: User) -> str | None:
    """A Python >= 3.10 with venv that ``user`` can use (pyenv's may sit under a private $HOME)."""
    candidates = [
        os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
        shutil.which("python3"),
        "/usr/bin/python3",
    ]
    for python in dict.fromkeys(c for c in candidates if c):
        if can_run(user, [python, "-c", VENV_PYTHON_CHECK]):
            return python
    return None


def choose_user() -> tuple[User, str]:
    """(who runs postBuild and the notebook, the base Python of the virtualenv)."""
    me = User(None, None, pwd.getpwuid(os.geteuid()).pw_name)
    if os.geteuid() != 0:
        python = base_python(me)
        if python is None:
            pytest.fail("no Python >= 3.10 with the venv module was found")
        return me, python
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        nobody = None
    if nobody is not None and shutil.which("setpriv"):
        user = User(nobody.pw_uid, nobody.pw_gid, "nobody")
        if can_run(user, ["true"]):
            python = base_python(user)
            if python is not None:
                return user, python
    python = base_python(me)
    if python is None:
        pytest.fail("no Python >= 3.10 with the venv module was found")
    return me, python  # root: eBPF is left out of the build instead


def missing_apt_packages() -> list[str]:
    wanted = []
    for line in (REPO / "binder" / "apt.txt").read_text().splitlines():
        package = line.partition("#")[0].strip()
        if package:
            wanted.append(package)
    if not shutil.which("dpkg-query"):
        return []  # not Debian or Ubuntu: the build itself says what is missing
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status}\n", *wanted],
        capture_output=True,
        text=True,
    ).stdout
    installed = {ln.split()[0] for ln in status.splitlines() if ln.endswith(" installed")}
    return [p for p in wanted if p not in installed]


def copy_worktree(dest: Path) -> None:
    """The files a clone of the working tree would have (ignored files such as target/ and
    jupyter_ext/static left out), committed in a repository of their own."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = os.fsdecode(raw)
        source = REPO / rel
        if not os.path.lexists(source) or source.is_dir():  # deleted, or a submodule
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest / rel, follow_symlinks=False)
    git = ["git", "-c", "user.name=roar tests", "-c", "user.email=test@roar.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "worktree"], cwd=dest, check=True)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what belongs to it alone (its Python, its virtualenv,
    its Jupyter and roar settings, its home)."""
    private = ("VIRTUAL_ENV", "PYENV", "PYTHONPATH", "PYTHONHOME", "JUPYTER", "IPYTHON", "ROAR_",
               "CONDA", "XDG_", "PYTEST", "HOME", "USER", "LOGNAME")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(private)}
    env.update(extra)
    return env


@dataclass
class Binder:
    user: User
    repo: Path
    venv: Path
    home: Path
    postbuild: subprocess.CompletedProcess | None = None
    executed: dict = field(default_factory=dict)  # the executed notebook
    store: dict = field(default_factory=dict)  # `roar show --json` in the demo project

    @property
    def demo(self) -> Path:
        return self.repo / DEMO

    def env(self) -> dict[str, str]:
        """What the notebook user has on Binder: the environment's bin first on PATH, a home."""
        return clean_env(
            HOME=str(self.home),
            USER=self.user.name,
            PATH=f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            # a host's running eBPF service would otherwise be open to any user; Binder has none
            ROAR_EBPF_SOCKET=str(self.home / "no-ebpf-service.sock"),
        )

    def as_user(self, argv: list[str], what: str, cwd: Path, timeout: float = STEP_TIMEOUT):
        return run(self.user.argv(argv), cwd=cwd, env=self.env(), timeout=timeout, what=what)


@pytest.fixture(scope="module")
def binder() -> Iterator[Binder]:
    missing = missing_apt_packages()
    if missing:
        pytest.skip(f"binder/apt.txt names packages this machine lacks: {', '.join(missing)}")
    user, python = choose_user()
    top = Path(tempfile.mkdtemp(prefix="roar-binder-"))
    try:
        top.chmod(0o755)
        repo, venv, home = top / "repo", top / "venv", top / "home"
        repo.mkdir()
        home.mkdir()
        copy_worktree(repo)

        # requirements.txt, as the user running the tests: their Rust toolchain and caches.
        run([python, "-m", "venv", str(venv)], timeout=300, what="creating the virtualenv")
        build_env = clean_env(
            HOME=os.environ.get("HOME", str(home)),
            PATH=f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        )
        if user.root:
            build_env["ROAR_EBPF_DISABLE"] = "1"  # root could use eBPF; Binder cannot
        run(
            [str(venv / "bin" / "pip"), "install", "-q", "-r", "binder/requirements.txt"],
            cwd=repo, env=build_env, timeout=BUILD_TIMEOUT,
            what="pip install -r binder/requirements.txt",
        )  # fmt: skip
        if user.uid is not None:  # hand everything to the notebook user, as Binder's image does
            subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", str(top)], check=True)

        b = Binder(user, repo, venv, home)
        b.postbuild = b.as_user(["binder/postBuild"], "binder/postBuild", cwd=repo)

        executed = top / "executed.ipynb"
        b.as_user(
            [str(venv / "bin" / "python"), "-c", EXECUTE, str(b.demo / "demo.ipynb"),
             str(executed), str(CELL_TIMEOUT), f"{DEMO}/demo.ipynb"],
            "executing the demo notebook with nbclient", cwd=b.demo,
        )  # fmt: skip
        b.executed = json.loads(executed.read_text())
        shown = b.as_user(
            [str(venv / "bin" / "roar"), "show", "--json"], "roar show --json", b.demo
        )
        b.store = json.loads(shown.stdout)
        yield b
    finally:
        shutil.rmtree(top, ignore_errors=True)


def cell_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append("".join(out["text"]))
        elif out["output_type"] in ("execute_result", "display_data"):
            parts.append("".join(out["data"].get("text/plain", "")))
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)


def cell(binder: Binder, cell_id: str) -> dict:
    return next(c for c in binder.executed["cells"] if c.get("id") == cell_id)


def names(files: list[dict]) -> list[str]:
    return sorted(os.path.basename(f["path"]) for f in files)


def test_postbuild_installs_the_kernel_builds_the_viewer_and_makes_the_demo_project(binder):
    spec = json.loads((binder.venv / "share/jupyter/kernels/roar/kernel.json").read_text())
    python, *rest = spec["argv"]
    assert Path(python).parent == binder.venv / "bin" and rest[:2] == ["-m", "roar_kernel"]
    bundle = binder.repo / "jupyter_ext" / "static" / "widget.js"
    assert bundle.is_file() == bool(shutil.which("npm")), binder.postbuild.stdout
    demo = binder.demo
    assert (demo / ".roar" / "roar.db").is_file()
    tracked = binder.as_user(["git", "ls-files"], "git ls-files", demo).stdout.split()
    assert sorted(tracked) == [".gitignore", "data/readings.csv", "report.py"]
    if binder.user.uid is not None:  # the notebook ran as that user: it wrote the store
        assert (demo / ".roar" / "roar.db").stat().st_uid == binder.user.uid


def test_every_cell_ran_without_errors_or_fallbacks(binder):
    for c in binder.executed["cells"]:
        if c["cell_type"] != "code":
            continue
        text = cell_text(c)
        assert not any(o["output_type"] == "error" for o in c["outputs"]), (c["id"], text)
        for sign in ("Error:", "audit hooks", "not recorded", "not in a roar project"):
            assert sign not in text, (c["id"], text)


def test_the_notebook_says_which_backend_it_used(binder):
    before = cell_text(cell(binder, "tracer-before"))
    preload = next(line for line in before.splitlines() if line.startswith("preload"))
    assert preload.split()[1] == "yes" and "*" in preload.split()  # ready, and the one in use
    ebpf = next(line for line in before.splitlines() if line.startswith("ebpf"))
    assert ebpf.split()[1] == "no"  # on Binder: no root; as root here: built without eBPF
    shown = cell_text(cell(binder, "show-run")).splitlines()
    assert ["Tracer:", "preload"] in [line.split() for line in shown]
    assert "Last run used: preload" in cell_text(cell(binder, "tracer-after"))


def test_the_cells_and_the_roar_run_step_are_jobs_traced_by_preload(binder):
    jobs = binder.store["jobs"]
    assert [(j["kind"], j["step_ref"]) for j in jobs] == [
        ("cell", "@1"), ("cell", "@2"), ("run", "@3"), ("cell", "@4"),
    ]  # fmt: skip
    assert {j["tracer"] for j in jobs} == {"preload"}
    assert all(j["exit_code"] == 0 for j in jobs)
    head = binder.as_user(["git", "rev-parse", "HEAD"], "git rev-parse", binder.demo).stdout
    assert {j["git"]["commit"] for j in jobs} == {head.strip()}

    clean, summarize, run_job, show = jobs
    assert [j["cell_id"] for j in (clean, summarize, show)] == CELL_JOBS
    assert all(
        j["notebook_path"] == str(binder.demo / "demo.ipynb") for j in (clean, summarize, show)
    )
    files = [(names(j["inputs"]), names(j["outputs"])) for j in jobs]
    assert files == [
        (["readings.csv"], ["clean.csv"]),
        (["clean.csv"], ["summary.json"]),
        (["summary.json"], ["report.md"]),
        (["report.md"], []),
    ]
    # each file read is the very one the step before wrote: the DAG's edges
    for producer, consumer in itertools.pairwise(jobs):
        assert consumer["inputs"][0]["hash"] == producer["outputs"][0]["hash"]
    report = binder.demo / "work" / "report.md"
    assert run_job["outputs"][0]["hash"] == blake3(report.read_bytes()).hexdigest()
    assert run_job["command"] == "python report.py work/summary.json work/report.md"
    assert not run_job["git"]["dirty"]  # the clean-tree rule held: the notebook is untracked
    # the last cell used `summary` from the second: a cell → cell edge through a variable
    assert summarize["variables"]["read"] == []
    assert show["variables"]["read"] == [
        {"name": "summary", "producer_job_uid": summarize["job_uid"]}
    ]
    shown = [o["data"] for o in cell(binder, "show-report")["outputs"] if "data" in o]
    assert "".join(shown[0]["text/markdown"]) == report.read_text()  # the cell displayed it
    assert "Warmest on average: **valley**." in report.read_text()


def test_roar_dag_draws_the_session_in_the_viewer(binder):
    out = next(o for o in cell(binder, "dag-widget")["outputs"] if VIEW_MIME in o.get("data", {}))
    model = out["data"][VIEW_MIME]["model_id"]
    state = binder.executed["metadata"]["widgets"][STATE_MIME]["state"][model]["state"]
    assert state["error"] == ""
    assert state["graph"]["counts"]["jobs"] == 4
    built = binder.repo / "jupyter_ext" / "static" / "widget.js"
    if built.is_file():
        assert state["_esm"] == built.read_text()
    else:  # no npm here, as postBuild says: the viewer explains instead of drawing
        assert "DAG viewer is not built" in state["_esm"]
    assert "Pipeline: 4 steps" in cell_text(cell(binder, "dag-text"))
