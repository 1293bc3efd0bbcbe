"""The registry's web UI: pages over HTTP (redirects, escaping, the leaderboard, errors) and in
headless Chromium (Debian's, driven by Playwright): search a hash, click artifact → job →
session → artifact through the drawn DAG, copy the reproduce command, read it on a phone.

The server is the package's real one (tests/registry/conftest.py), on SQLite and PostgreSQL,
with the lineage of a real 3-step `roar run` pipeline.
"""

from __future__ import annotations

import html
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.registry.test_search import mixed_bundle
from tests.widget.browser import ARGS, chromium_path, missing_prerequisite, skip_unless_ready

SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(server, path: str) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of a page, redirects not followed."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(server.base + path, timeout=60) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def job_(uid: str, command: str) -> dict[str, Any]:
    return {"uid": uid, "command": command, "argv": command.split()}


def by_name(bundle: dict[str, Any], name: str) -> str:
    return next(e["artifact"] for e in bundle["edges"] if Path(e["path"]).name == name)


# ---------------------------------------------------------------- over HTTP


def test_a_hash_in_the_search_bar_goes_to_its_page_and_text_lists_results(server, pipeline_bundle):
    out = server.register(pipeline_bundle)
    model = by_name(pipeline_bundle, "model.bin")
    job = next(iter(out["job_hashes"].values()))
    for q, where in (
        (model[:10], f"/artifacts/{model}"),
        (model.upper(), f"/artifacts/{model}"),
        (job[:12], f"/jobs/{job}"),
        (out["session_hash"][:12], f"/sessions/{out['session_hash']}"),
    ):
        status, headers, _ = fetch(server, "/search?q=" + q)
        assert status == 303 and headers["location"] == where, (q, status, headers)
    status, _, body = fetch(server, "/search?q=" + urllib.parse.quote("step.py model.bin"))
    assert status == 200
    assert "python3 step.py model.bin clean.csv metrics.json evaluated" in html.unescape(body)
    # a prefix naming nothing is searched as text, and says so by finding nothing
    status, _, body = fetch(server, "/search?q=0000000000ffff")
    assert status == 200 and "None." in body
    status, _, body = fetch(server, "/artifacts/0000000000ffff")
    assert status == 404 and "no artifact in this registry matches" in html.unescape(body)
    status, _, body = fetch(server, "/search?label=oops")
    assert status == 422 and "is not key=value" in html.unescape(body)


def test_pages_escape_what_was_registered_and_load_only_this_servers_files(server):
    user = "xss-" + secrets.token_hex(4)
    bundle = mixed_bundle(user)
    evil = '<script>alert("job")</script>'
    bundle["jobs"][0]["command"] = f"python prep.py {evil}"
    bundle["edges"][0]["path"] = "/tmp/<img src=x onerror=alert(1)>.csv"
    bundle["labels"][0]["value"] = "<b>prod</b>"
    out = server.register(bundle)
    first = out["job_hashes"][f"{user}-1"]
    status, headers, body = fetch(server, f"/jobs/{first}")
    assert status == 200
    assert evil not in body and "&lt;script&gt;alert(&#34;job&#34;)&lt;/script&gt;" in body
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;.csv" in body
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'wasm-unsafe-eval'" in csp
    assert "unsafe-inline" not in csp
    _, _, board = fetch(server, "/labels?key=stage")
    assert "<b>prod</b>" not in board and "&lt;b&gt;prod&lt;/b&gt;" in board
    session = fetch(server, f"/sessions/{out['session_hash']}")[2]
    assert "<script>alert" not in session  # the graph's JSON block escapes < too
    for page in (body, board, session):
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert "http://" not in page.replace(server.base, "") and "https://" not in page


def test_the_label_leaderboard_sorts_by_value_numerically_or_as_text(server):
    user = "board-" + secrets.token_hex(4)
    key = "acc_" + secrets.token_hex(3)
    bundle = mixed_bundle(user)
    jobs = [j["uid"] for j in bundle["jobs"]]
    values = {jobs[0]: "0.9", jobs[1]: "0.85", jobs[2]: "0.95", jobs[3]: "10"}  # 10 is largest
    bundle["labels"] = [
        {"target_kind": "job", "target": uid, "key": key, "value": v, "set_at": 1}
        for uid, v in values.items()
    ] + [  # job 4's label removed afterwards: it leaves the board
        {"target_kind": "job", "target": jobs[3], "key": key, "value": None, "set_at": 2}
    ]
    out = server.register(bundle)
    status, _, body = fetch(server, f"/labels?key={key}")
    assert status == 200 and f'<option value="{key}" selected>' in body
    order = [body.index(out["job_hashes"][u]) for u in (jobs[2], jobs[0], jobs[1])]
    assert order == sorted(order) and out["job_hashes"][jobs[3]] not in body
    assert "Sorted as numbers" in body
    body = fetch(server, f"/labels?key={key}&order=asc")[2]
    order = [body.index(out["job_hashes"][u]) for u in (jobs[1], jobs[0], jobs[2])]
    assert order == sorted(order)


def test_the_results_page_keeps_its_filters_across_older_pages(server, accounts):
    user = "webpages-" + secrets.token_hex(4)
    jobs = [job_(f"{user}-{i:02d}", f"python sweep.py --seed {i}") for i in range(60)]
    # registered publicly as the user (the server attributes it; the bundle's field is not trusted)
    accounts.user(user).register({"registered_by": user, "jobs": jobs}, "public")
    status, _, first = fetch(server, f"/search?command=sweep.py&user={user}")
    assert status == 200 and first.count("python sweep.py --seed") == 50
    assert f'value="{user}"' in first  # the filter form shows what was asked
    older = re.search(r'href="(/search\?[^"]+)"[^>]*>Older results', first)
    assert older is not None
    second = fetch(server, html.unescape(older.group(1)))[2]
    assert second.count("python sweep.py --seed") == 10 and "Older results" not in second
    seen = re.findall(r"--seed (\d+)<", first + second)
    assert sorted(map(int, seen)) == list(range(60))


# ---------------------------------------------------------------- in Chromium

browser_ready = skip_unless_ready(missing_prerequisite())


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, server):
    contexts = []

    def open_(width: int = 1280, height: int = 860):
        ctx = browser.new_context(
            viewport={"width": width, "height": height},
            permissions=["clipboard-read", "clipboard-write"],
        )
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.problems = []  # script errors, and anything fetched from elsewhere
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on(
            "response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}")
        )
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on(
            "request",
            lambda r: r.url.startswith(server.base) or page.problems.append(r.url),
        )
        return page

    yield open_
    for ctx in contexts:
        ctx.close()


@browser_ready
def test_search_a_hash_then_click_artifact_job_session_artifact(server, pipeline_bundle, open_page):
    out = server.register(pipeline_bundle)
    metrics = by_name(pipeline_bundle, "metrics.json")
    raw = by_name(pipeline_bundle, "raw.csv")
    page = open_page()
    page.goto(server.base + "/")
    page.fill("header input[name=q]", metrics[:12])
    page.press("header input[name=q]", "Enter")
    page.wait_for_url(f"**/artifacts/{metrics}")
    assert metrics in page.inner_text("main")

    # The reproduce box: the exact command, copied to the clipboard (and left selected).
    command = f"roar reproduce {metrics}"
    assert page.inner_text("#reproduce-command") == command
    page.click("button.copy")
    page.wait_for_function("document.querySelector('button.copy').dataset.state")
    assert page.evaluate("navigator.clipboard.readText()") == command
    assert page.evaluate("window.getSelection().toString()").strip() == command

    # artifact → the job that made it
    page.click("h2:has-text('Made by') + ul a")
    evaluate = next(j for j in pipeline_bundle["jobs"] if "evaluated" in j["command"])
    job_hash = out["job_hashes"][evaluate["uid"]]
    page.wait_for_url(f"**/jobs/{job_hash}")
    assert page.inner_text("#job-command") == evaluate["command"]
    main = page.inner_text("main")
    assert evaluate["git"]["commit"] in main
    assert all(name in main for name in evaluate["env_names"][:5])
    inputs = page.eval_on_selector_all(
        "h2:has-text('Inputs') + ul a", "as => as.map(a => a.textContent)"
    )
    assert sorted(Path(p).name for p in inputs) == ["clean.csv", "model.bin"]

    # job → its session, whose DAG the notebook widget's viewer draws
    page.click(f"a[href='/sessions/{out['session_hash']}']")
    page.wait_for_url(f"**/sessions/{out['session_hash']}")
    page.wait_for_function("document.getElementById('dag').dataset.ready")
    assert page.get_attribute("#dag", "data-ready") == "true"
    drawn = page.eval_on_selector_all("svg.roar-dag g.node", "gs => gs.map(g => g.dataset.id)")
    artifacts = {e["artifact"] for e in pipeline_bundle["edges"]}
    expected = {f"job-{h}" for h in out["job_hashes"].values()} | {
        f"artifact-{a}" for a in artifacts
    }
    assert set(drawn) == expected
    assert page.locator("svg.roar-dag g.edge").count() == len(pipeline_bundle["edges"])
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "glaas-session.png"))

    # session → an artifact, by clicking its node and then the link to its page
    page.click(f"svg.roar-dag g.node[data-id='artifact-{raw}']")
    link = page.locator("#dag-open")
    assert link.is_visible() and "raw.csv" in link.inner_text()
    link.click()
    page.wait_for_url(f"**/artifacts/{raw}")
    assert "Made by" in page.inner_text("main")
    assert page.inner_text("#reproduce-command") == f"roar reproduce {raw}"

    # back on the session, a double-click opens a job's page at once
    page.go_back()
    page.wait_for_function("document.getElementById('dag').dataset.ready === 'true'")
    page.dblclick(f"svg.roar-dag g.node[data-id='job-{job_hash}']")
    page.wait_for_url(f"**/jobs/{job_hash}")
    assert page.problems == []


@browser_ready
def test_pages_fit_a_phone_screen(server, pipeline_bundle, open_page):
    out = server.register(pipeline_bundle)
    model = by_name(pipeline_bundle, "model.bin")
    job = next(iter(out["job_hashes"].values()))
    page = open_page(390, 844)
    for path in (
        "/",
        f"/artifacts/{model}",
        f"/jobs/{job}",
        f"/sessions/{out['session_hash']}",
        "/labels",
    ):
        page.goto(server.base + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
        size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
        assert size >= 14, (path, size)
    page.goto(server.base + f"/artifacts/{model}")
    box = page.locator("button.copy").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    page.screenshot(path=str(SCREENSHOTS / "glaas-artifact-phone.png"), full_page=True)
    assert page.problems == []
