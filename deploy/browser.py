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
    from stack import check

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
        page.wait_for_timeout(1000)
        standard = dialog.inner_text()
        placeholders = dialog.locator("input, textarea").evaluate_all("els => els.map(e => e.placeholder || '')")
        self.shot("connection_form_toloka")
        # Our extra fields (environment, account, timeout, retries) are in the collapsed "Extra Fields" section.
        dialog.get_by_role("button", name=re.compile(r"^\s*Extra Fields\s*$")).first.click()
        dialog.get_by_text("Environment", exact=False).first.wait_for(state="visible")
        page.wait_for_timeout(1000)
        text = standard + "\n" + dialog.inner_text()
        placeholders += dialog.locator("input, textarea").evaluate_all("els => els.map(e => e.placeholder || '')")
        self.seen["connection form placeholders"] = " | ".join(p for p in placeholders if p)
        self.seen["connection form"] = " | ".join(line.strip() for line in text.splitlines() if line.strip())[:600]
        self.shot("connection_form_toloka_extra")
        values = dialog.locator("input, textarea").evaluate_all("els => els.map(e => e.value)")
        shown_null = [line for line in text.splitlines() if line.strip().lower() == "null"] + [
            value for value in values + placeholders if str(value).strip().lower() == "null"
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
        self.goto(f"/dags/{DAG_ID}/runs/{run}/tasks/wait_for_pool", settle="Deferred")
        page.get_by_text("starting", exact=False).first.wait_for(state="visible", timeout=60_000)
        self.shot("deferred_pool_sensor")
        logs = page.inner_text("body")
        _check("Deferred" in logs, "the pool sensor's task page shows the state Deferred")
        _check(re.search(r"deferring for up to \d+ s", logs), "its log says it deferred (no worker slot held)")
        _check(re.search(r"trigger text_classification/.+/wait_for_pool/.+ starting", logs), "its log shows the trigger starting")
        self.goto(f"/dags/{DAG_ID}/runs/{run}/tasks/wait_for_pool/details", settle="Trigger")
        page.wait_for_timeout(1500)
        text = page.inner_text("body")
        details = text[text.find("Details") :]
        self.seen["deferred task details"] = re.sub(r"\s+", " ", details)[:900]
        self.shot("deferred_pool_sensor_trigger")
        _check("TolokaPoolTrigger" in details, "the deferred task's details show its trigger (TolokaPoolTrigger)")

    def check_finished_run(self, run_id: str, task_count: int) -> None:
        page = self.page
        run = urllib.parse.quote(run_id, safe="")
        self.goto(f"/dags/{DAG_ID}/runs/{run}", settle=run_id)
        cells = page.locator(f"[data-testid^='grid-{run_id}-']")
        cells.first.wait_for(state="attached", timeout=60_000)
        page.wait_for_timeout(2000)
        self.shot("dag_run_grid")
        # Each grid cell holds a state badge; success is Airflow's green (oklch hue ~149, or an rgb green).
        colors = cells.evaluate_all(
            "els => els.map(e => { const b = e.querySelector('[data-testid=task-state-badge]') || e;"
            " return [e.dataset.testid, getComputedStyle(b).backgroundColor]; })"
        )
        not_green = [(cell, color) for cell, color in colors if not _is_green(color)]
        self.seen["grid"] = f"{len(colors)} cells, colours {sorted({c for _, c in colors})}"
        _check(len(colors) == task_count, f"the run's grid shows {len(colors)} task cells ({task_count} tasks)")
        _check(not not_green, f"the run's grid is all green ({not_green[:3]})")
        for task_id in ("create_pool", "wait_for_pool"):
            self.goto(f"/dags/{DAG_ID}/runs/{run}/tasks/{task_id}/details", settle="State")
            link = page.get_by_role("link", name=re.compile("Toloka Pool", re.I))
            try:
                link.first.wait_for(state="visible", timeout=15_000)
            except Exception:
                pass
            self.shot(f"{task_id}_details_link")
            href = link.first.get_attribute("href") if link.count() else None
            self.seen[f"{task_id} 'Toloka Pool' link"] = str(href)
            _check(href is not None, f"{task_id}: a 'Toloka Pool' link is shown")
            _check(href.startswith(self.stack.emulator_url + "/requester/project/"), f"{task_id}: it points at the pool ({href})")
            with urllib.request.urlopen(href, timeout=10) as response:
                _check(response.status == 200, f"{task_id}: the pool page answers 200")


def _is_green(color: str) -> bool:
    numbers = [float(n) for n in re.findall(r"[\d.]+", color)]
    if color.startswith("oklch") and len(numbers) >= 3:
        return numbers[1] > 0.05 and 120 <= numbers[2] <= 165
    if color.startswith("rgb") and len(numbers) >= 3:
        r, g, b = numbers[:3]
        return g > 90 and g > r * 1.5 and g > b * 1.2
    return False
