"""Make the README's picture of the studio page (docs/images/web.png) from a real session, not a mock-up.

Starts `productshot web` in-process on a throwaway data home, opens it in headless Chromium (Debian's
`chromium`, driven by Playwright), drops the bundled coffee photo, asks for a shot, follows up once, makes the Amazon listing
image from the page's preset picker, and screenshots the page as a seller sees it. Usage: .venv/bin/python scripts/web_screenshot.py [OUT.png]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support.browser: the one place the Chromium flags live

from tests.support.browser import chromium_missing, launch  # noqa: E402

REQUEST = "put this cup on white marble, bottom-left"
FOLLOW_UP = "move it a little to the right"
LISTING_PRESET = "amazon"
SHOT_TIMEOUT_MS = 600_000


def main(out: Path) -> int:
    missing = chromium_missing()
    if missing:
        print(f"web_screenshot: {missing}", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from productshot.agent.runtime import AgentRuntime
    from productshot.settings import Settings
    from productshot.tools.imageio import load_sample
    from productshot.web.serve import WebServer

    with tempfile.TemporaryDirectory(prefix="productshot-web-") as folder:
        home = Path(folder) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PRODUCTSHOT_", "OPENAI_"))}
        env.update({"PRODUCTSHOT_HOME": str(home), "PRODUCTSHOT_ALLOWED_DIRS": folder})
        settings = Settings.from_mapping(env, home=home)
        photo = Path(folder) / "coffee.jpg"
        load_sample("coffee").convert("RGB").save(photo, quality=92)
        server = WebServer(settings, port=0, runtime=lambda: AgentRuntime.from_settings(settings))
        with server, sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
            page.goto(server.url)
            page.set_input_files("input[type=file]", str(photo))
            page.wait_for_function("() => !!document.getElementById('preview').dataset.asset")
            for text in (REQUEST, FOLLOW_UP):
                before = page.evaluate("() => document.getElementById('result').dataset.asset || ''")
                page.locator("textarea").fill(text)
                page.locator("textarea").press("Enter")
                page.wait_for_function(
                    "(prev) => { const img = document.getElementById('result');"
                    " return img.dataset.asset && img.dataset.asset !== prev && img.complete"
                    " && !document.getElementById('send').disabled; }",
                    arg=before,
                    timeout=SHOT_TIMEOUT_MS,
                )
            page.select_option("#preset", LISTING_PRESET)
            page.click("#make-listing")
            page.wait_for_function(
                "() => { const img = document.getElementById('listing-image');"
                " return !document.getElementById('listing').hidden && img.complete && img.naturalWidth > 0"
                " && !document.getElementById('send').disabled; }",
                timeout=SHOT_TIMEOUT_MS,
            )
            page.wait_for_function(
                "() => [...document.querySelectorAll('#history img')].every((i) => i.complete)"
            )
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    print(f"web_screenshot: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "web.png"))
