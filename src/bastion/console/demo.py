"""Benign example cases for the console: what `bastion demo --serve` and the browser tests load.

Nothing here depicts anything harmful. Images are generated patterns (gradients and shapes); the "known"
bank is a stand-in list of those patterns' hashes, exactly as the project's other tests build one. Texts are
short, clinical placeholders (a sale, a contact handle) — enough to show highlighted spans and account
links, never a described act.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image, PngImagePlugin

from bastion.demo import generated_pattern

#: Demo sign-ins. Passwords are for a local demo only and printed by `bastion demo --serve`.
DEMO_USERS = (
    ("admin", "admin", "demo-admin-password"),
    ("lead", "lead", "demo-lead-password"),
    ("reviewer", "reviewer", "demo-reviewer-password"),
    ("reviewer2", "reviewer", "demo-reviewer2-password"),
    ("auditor", "auditor", "demo-auditor-password"),
)


def png_bytes(im: Image.Image, text: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
    im.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_bytes(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


#: An A1111-style parameters chunk with a neutral prompt: shows generator facts and positive vs negative prompts.
A1111_PARAMETERS = ("a lighthouse on a cliff at dusk, oil painting, warm light\n"
                    "Negative prompt: blurry, low quality, watermark\n"
                    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 424242, Size: 640x480, "
                    "Model hash: 0123456789, Model: demo-landscape-v1")


@dataclass
class DemoSeed:
    users: dict[str, str]  # name -> password
    cases: list[int]
    items: list[str]
    banks: dict[str, str]  # bank name -> category


def create_users(store, users=DEMO_USERS) -> dict[str, str]:
    from bastion.auth import service as auth
    from bastion.errors import Conflict

    out = {}
    with store.session() as s, s.begin():
        for name, role, password in users:
            try:
                auth.create_user(s, name, role, password, actor="demo")
            except Conflict:
                pass
            out[name] = password
    return out


def seed(service, *, users=DEMO_USERS, now: datetime | None = None) -> DemoSeed:
    """Create demo users, two banks of benign stand-in hashes and items that open cases.

    ``service`` is the service's per-process state (``bastion.cases.ingest.Service``): items go through its
    ``submit`` exactly as API submissions do, so cases, signals, accounts and links are real."""
    from bastion.banks.repo import BankRepository
    from bastion.cases.ingest import Upload
    from bastion.cases.schemas import ItemIn
    from bastion.errors import BankExists
    from bastion.media.hashing import crypto_hashes, pdq_from_image
    from bastion.model import Bank, HashEntry

    now = now or datetime.now(timezone.utc)
    store = service.store
    passwords = create_users(store, users)
    repo = BankRepository(store)
    banks = {"stand-in-known": "csam", "partner-list": "other"}
    for name, category in banks.items():
        try:
            repo.create(Bank(name, category, f"Demo: benign generated patterns standing in for a {category} list",
                             "bastion console demo"))
        except BankExists:
            pass

    known = {seed: generated_pattern(seed) for seed in (11, 12, 13)}
    partner = {seed: generated_pattern(seed) for seed in (21, 22)}
    entries_known, entries_partner = [], []
    for seed_, im in known.items():
        pdq, _ = pdq_from_image(im)
        entries_known.append(HashEntry("pdq", pdq, f"pattern-{seed_}"))
    for seed_, im in partner.items():
        data = png_bytes(im, {"parameters": A1111_PARAMETERS}) if seed_ == 21 else jpeg_bytes(im)
        entries_partner.append(HashEntry("md5", crypto_hashes(data).md5, f"partner-{seed_}"))
        pdq, _ = pdq_from_image(im)
        entries_partner.append(HashEntry("pdq", pdq, f"partner-{seed_}"))
    repo.add_entries("stand-in-known", entries_known)
    repo.add_entries("partner-list", entries_partner)
    service.matcher.refresh() if hasattr(service.matcher, "refresh") else None

    def item(ext: str, account: str, handle: str, body: str, images: list[bytes], *, title: str | None = None,
             tags: list[str] | None = None, price: dict | None = None, days_old: int = 200, parent: str | None = None):
        payload: dict[str, Any] = {
            "id": ext, "kind": "comment" if parent else "post",
            "account": {"id": account, "handle": handle, "created_at": (now - timedelta(days=days_old)).isoformat()},
            "title": title, "body": body, "tags": tags or [], "parent_id": parent,
        }
        if price:
            payload["price"] = price
        answer = service.submit(ItemIn(**payload), [Upload(f"{ext}-{i}.png", b) for i, b in enumerate(images)])
        return answer

    items: list[str] = []
    cases: list[int] = []
    plan = [
        # A re-encoded, slightly resized copy of a "known" pattern: a hash match against the csam stand-in bank.
        dict(ext="post-1001", account="acct-aurora", handle="aurora_sells",
             title="Weekend collection", tags=["collection", "weekendset", "placeholdertag"],
             body="selling my collection, message me on telegram @sample_seller, price list in bio",
             images=[jpeg_bytes(known[11].resize((600, 450)), 80)], price={"amount": 10, "currency": "USD", "tier": "vip"}),
        dict(ext="post-1002", account="acct-aurora", handle="aurora_sells",
             title="More of the set", tags=["weekendset", "placeholdertag"],
             body="second part, same contact: telegram @sample_seller",
             images=[jpeg_bytes(known[12].transpose(Image.Transpose.FLIP_LEFT_RIGHT), 85)]),
        # Another account that shares the contact handle: an account link with evidence.
        dict(ext="post-2001", account="acct-borealis", handle="borealis_art",
             title="New upload", tags=["placeholdertag", "weekendset"],
             body="commissions open, contact via telegram @sample_seller", days_old=3,
             images=[jpeg_bytes(known[13], 88)]),
        # A partner-list match whose file carries generator metadata (positive and negative prompts kept apart).
        dict(ext="post-3001", account="acct-cirrus", handle="cirrus_gen", title="Lighthouse study",
             tags=["landscape", "lighthouse"], body="rendered this evening",
             images=[png_bytes(partner[21], {"parameters": A1111_PARAMETERS})]),
        dict(ext="post-3002", account="acct-cirrus", handle="cirrus_gen", title="Shapes",
             tags=["abstract"], body="another partner-list match for the queue", images=[jpeg_bytes(partner[22])]),
        dict(ext="post-4001", account="acct-delta", handle="delta_shop", title="Bundle",
             tags=["bundle", "placeholdertag"], body="trade offers only, contact via telegram",
             images=[jpeg_bytes(known[11], 70)], price={"amount": 25, "currency": "EUR"}),
    ]
    for p in plan:
        images = p.pop("images")
        ans = item(images=images, **p)
        items.append(ans["item_id"])
        if ans.get("case_id") and ans["case_id"] not in cases:
            cases.append(ans["case_id"])
    return DemoSeed(users=passwords, cases=cases, items=items, banks=banks)


def build_demo_app(home, *, background: bool = True):
    """A fresh service + console on ``home`` (SQLite file and holding folder inside it) with the demo data."""
    import shutil
    from pathlib import Path

    from bastion.api.app import create_app
    from bastion.api.settings import ServeSettings

    home = Path(home)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    app = create_app(ServeSettings(home=home, database_url=f"sqlite:///{home / 'bastion.db'}",
                                   background=background, json_logs=False))
    return app, seed(app.state.service)


def serve_demo(home, host: str = "127.0.0.1", port: int = 8080, say=print) -> None:
    """Build the demo (see :func:`build_demo_app`) and serve it until interrupted."""
    import uvicorn

    app, seeded = build_demo_app(home)
    say(f"Bastion console with {len(seeded.cases)} benign example cases: http://{host}:{port}/console")
    say("sign in as (demo passwords, for this local demo only):")
    roles = {name: role for name, role, _ in DEMO_USERS}
    for name, password in seeded.users.items():
        say(f"  {name:<10} {password:<26} ({roles.get(name, '')})")
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"warning: listening on {host}: the demo passwords above are public; use it on a trusted network only")
    say("Ctrl-C stops it.")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False)  # as serve
