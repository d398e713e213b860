"""Make the README's console screenshots from the benign demo data (generated patterns, placeholder texts).

    .venv/bin/python tools/console_screenshots.py [OUT_DIR]      # default docs/img

Starts the demo service on a free loopback port, signs in as the demo reviewer in Debian's Chromium
(/usr/bin/chromium) and saves console-queue.png and console-case.png.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(out: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from bastion.console.demo import build_demo_app

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        app, seeded = build_demo_app(Path(tmp) / "home", background=False)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/console"
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 760}, device_scale_factor=1)
                page.goto(base + "/login")
                page.get_by_label("User name").fill("reviewer")
                page.get_by_label("Password").fill(seeded.users["reviewer"])
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "console-queue.png"))
                page.goto(f"{base}/cases/{seeded.cases[0]}")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(out / "console-case.png"))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.store.close()
    print(f"wrote {out / 'console-queue.png'} and {out / 'console-case.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/img"))
