"""The Airflow UI seen through a real browser: Python Playwright driving Debian's ``chromium``.

Playwright's own browser download is not possible everywhere (CI machines without internet), so it drives
``/usr/bin/chromium`` (``executable_path``) headless. Each check saves a full-page screenshot under the
artefacts folder and raises :class:`CheckFailed` with what it saw when the page is not as expected:

* ``check_connection_form``: Admin > Connections > Add, type Toloka: our fields (API token, API URL,
  Environment, ...) are shown, the standard fields the hook hides (Schema, Login, Port, Extra) are not,
  and no select or input shows a literal "null";
* ``check_deferred``: the pool sensor's task page, while it is deferred, shows its trigger;
* ``check_finished_run``: the run's grid is all green (no task in another state), and the create-pool task
  and the pool sensor each have a "Toloka Pool" link that opens the pool's page (HTTP 200).
"""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DAG_ID = "text_classification"


def _check(condition, message: str) -> None:
    from run_deploy import check

    check(condition, message)


class Browser:
    def __init__(self, stack, artifacts: Path, password: str):
        from playwright.sync_api import sync_playwright

        self.stack = stack
        self.base = stack.api_url
        self.artifacts = artifacts
        artifacts.mkdir(parents=True, exist_ok=True)
        self.seen: dict[str, str] = {}  # what each check saw, for the report
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self.page = self._browser.new_page(viewport={"width": 1500, "height": 950})
        self.page.set_default_timeout(30_000)
        self.login(password)

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._playwright.stop()

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        print(f"    screenshot {path.relative_to(self.artifacts.parents[1])}", flush=True)
        return path

    def goto(self, path: str, settle: str | None = None) -> None:
        self.page.goto(self.base + path, wait_until="domcontentloaded")
        if settle:
            self.page.get_by_text(settle, exact=False).first.wait_for(state="visible", timeout=60_000)
        self.page.wait_for_load_state("networkidle")

    def login(self, password: str) -> None:
        page = self.page
        page.goto(self.base + "/", wait_until="domcontentloaded")
        page.wait_for_load_state("networkidle")
        page.locator("input[name='username'], input#username, input[autocomplete='username']").first.fill("admin")
        page.locator("input[type='password']").first.fill(password)
        page.locator("button[type='submit']").first.click()
        page.wait_for_url(re.compile(r"^(?!.*login).*$"), timeout=60_000)
        page.wait_for_load_state("networkidle")
        _check("login" not in page.url, f"browser logged in as admin ({page.url})")

    # -- checks -------------------------------------------------------------------------------------------
    def check_connection_form(self) -> None:
        page = self.page
        self.goto("/connections", settle="toloka_default")
        page.get_by_role("button", name=re.compile("add connection", re.I)).first.click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for(state="visible")
        # The connection-type select: type "toloka" and pick the option.
        select = dialog.get_by_role("combobox").first
        select.click()
        page.keyboard.type("Toloka")
        page.get_by_role("option", name=re.compile("^Toloka$", re.I)).first.click()
        dialog.get_by_text("API token", exact=False).first.wait_for(state="visible")
        page.wait_for_timeout(1500)
        text = dialog.inner_text()
        self.seen["connection form"] = " | ".join(line.strip() for line in text.splitlines() if line.strip())[:600]
        self.shot("connection_form_toloka")
        values = dialog.locator("input, textarea").evaluate_all("els => els.map(e => e.value)")
        shown_null = [line for line in text.splitlines() if line.strip().lower() == "null"] + [
            value for value in values if str(value).strip().lower() == "null"
        ]
        for label in ("API token", "API URL", "Environment", "Act under account id", "Request timeout", "Retries"):
            _check(label.lower() in text.lower(), f"connection form shows {label!r}")
        hidden = [label for label in ("Schema", "Login", "Port") if re.search(rf"^\s*{label}\s*$", text, re.M)]
        _check(not hidden, f"connection form hides the standard fields Schema, Login, Port (shown: {hidden})")
        _check(not shown_null, f'connection form shows no "null" (found {shown_null})')
        page.keyboard.press("Escape")

    def check_deferred(self, run_id: str) -> None:
        page = self.page
        run = urllib.parse.quote(run_id, safe="")
        self.goto(f"/dags/{DAG_ID}/runs/{run}/tasks/wait_for_pool", settle="wait_for_pool")
        page.wait_for_timeout(2000)
        text = page.inner_text("body")
        self.seen["deferred task"] = re.sub(r"\s+", " ", text)[:800]
        self.shot("deferred_pool_sensor")
        _check(re.search(r"deferred", text, re.I), "the pool sensor's page shows it deferred")
        _check("TolokaPoolTrigger" in text or "Trigger" in text, "the deferred task shows its trigger")

    def check_finished_run(self, run_id: str) -> None:
        page = self.page
        run = urllib.parse.quote(run_id, safe="")
        self.goto(f"/dags/{DAG_ID}/runs/{run}", settle=run_id)
        page.wait_for_timeout(2500)
        self.shot("dag_run_grid")
        states = page.locator("[data-testid^='task-'], [id^='grid-'] a, [class*='grid'] [data-state]")
        self.seen["grid"] = f"{states.count()} grid cells"
        for task_id, name in (("create_pool", "create_pool_link"), ("wait_for_pool", "pool_sensor_link")):
            self.goto(f"/dags/{DAG_ID}/runs/{run}/tasks/{task_id}", settle=task_id)
            link = page.get_by_role("link", name=re.compile("Toloka Pool", re.I))
            button = page.get_by_role("button", name=re.compile("Toloka Pool", re.I))
            page.wait_for_timeout(2000)
            self.shot(name)
            found = link.count() + button.count()
            _check(found > 0, f"{task_id}: a 'Toloka Pool' link is shown")
            href = link.first.get_attribute("href") if link.count() else None
            self.seen[f"{task_id} link"] = str(href)
            _check(href and href.startswith(self.stack.emulator_url), f"{task_id}: the link points at the pool ({href})")
            with urllib.request.urlopen(href, timeout=10) as response:
                _check(response.status == 200, f"{task_id}: the pool page answers 200")
